"""Fitting per-vertex values over a mesh: its Laplacian, closest surface points, smooth spreading."""

from __future__ import annotations

import numpy as np


def mesh_laplacian(triangles: np.ndarray, num_vertices: int):
    """Combinatorial graph Laplacian D - A of the mesh's edge graph (scipy CSR)."""
    import scipy.sparse as sp

    tris = np.asarray(triangles, dtype=np.int64)
    i = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2]])
    j = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0]])
    adjacency = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(num_vertices, num_vertices)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (sp.diags(degree) - adjacency).tocsr(), degree


def closest_points_on_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                           k: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface point of each query point among the triangles around its k nearest
    vertices: (triangle ids (P,), barycentrics (P, 3), distances (P,))."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    verts = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    n, m = len(verts), len(tris)
    incidence = sp.csr_matrix((np.ones(3 * m), (tris.ravel(), np.repeat(np.arange(m), 3))),
                              shape=(n, m))
    _, nearest = cKDTree(verts).query(points, k=k)
    nearest = nearest.reshape(len(points), -1)
    # Candidate (point, triangle) pairs: every triangle touching one of the k vertices.
    rows = np.repeat(np.arange(len(points)), nearest.shape[1])
    cand = incidence[nearest.ravel()].tocoo()
    point_of = rows[cand.row]
    tri_of = cand.col
    closest, bary = _closest_on_triangles(points[point_of], verts[tris[tri_of, 0]],
                                          verts[tris[tri_of, 1]], verts[tris[tri_of, 2]])
    dist = np.linalg.norm(closest - points[point_of], axis=1)
    order = np.lexsort((dist, point_of))
    first = order[np.r_[True, point_of[order][1:] != point_of[order][:-1]]]
    best = np.full(len(points), -1)
    best[point_of[first]] = first
    return tri_of[best], bary[best], dist[best]


def _closest_on_triangles(p, a, b, c):
    """Closest point on triangles abc to points p (all (K, 3)); Voronoi-region test."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
    bp = p - b
    d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
    cp = p - c
    d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def safe(x):
        return np.where(x == 0, 1.0, x)

    denom = safe(va + vb + vc)
    v, w = vb / denom, vc / denom
    bary = np.stack([1 - v - w, v, w], axis=1)
    # Assign region by region, most specific last so it wins.
    t = (d4 - d3) / safe((d4 - d3) + (d5 - d6))
    mask = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    bary[mask] = np.stack([np.zeros_like(t), 1 - t, t], 1)[mask]
    t = d2 / safe(d2 - d6)
    mask = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    bary[mask] = np.stack([1 - t, np.zeros_like(t), t], 1)[mask]
    t = d1 / safe(d1 - d3)
    mask = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    bary[mask] = np.stack([1 - t, t, np.zeros_like(t)], 1)[mask]
    bary[(d6 >= 0) & (d5 <= d6)] = (0.0, 0.0, 1.0)
    bary[(d3 >= 0) & (d4 <= d3)] = (0.0, 1.0, 0.0)
    bary[(d1 <= 0) & (d2 <= 0)] = (1.0, 0.0, 0.0)
    closest = bary[:, 0:1] * a + bary[:, 1:2] * b + bary[:, 2:3] * c
    return closest, bary


def spread_over_mesh(sample_vertex_ids: np.ndarray, sample_weights: np.ndarray,
                     sample_values: np.ndarray, laplacian, degree: np.ndarray,
                     smoothness: float = 1e-3, ridge: float = 1e-9) -> np.ndarray:
    """Fill per-vertex values from samples at surface points by a smooth least-squares fit.

    Minimises ``sum_s |sum_k w_sk X[v_sk] - y_s|^2 + smoothness * |L X|^2_(D^-1) + ridge |X|^2``
    where the sample s lies at barycentric weights w_sk of vertices v_sk, and ``L`` is the
    mesh Laplacian (so the regulariser is a bi-Laplacian: the fill is as-smooth-as-possible
    between samples and extrapolates gently beyond them). Returns (N, C).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = laplacian.shape[0]
    ids = np.asarray(sample_vertex_ids, dtype=np.int64)
    weights = np.asarray(sample_weights, dtype=np.float64)
    if ids.ndim == 1:
        ids = ids[:, None]
    if weights.ndim == 1:
        weights = weights[:, None]
    s = len(ids)
    sampling = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(s), ids.shape[1]), ids.ravel())),
                             shape=(s, n))
    bilaplacian = laplacian.T @ sp.diags(1.0 / np.maximum(degree, 1)) @ laplacian
    system = (sampling.T @ sampling + smoothness * bilaplacian + ridge * sp.eye(n)).tocsc()
    rhs = sampling.T @ np.asarray(sample_values, dtype=np.float64)
    return splu(system).solve(np.asarray(rhs))


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Frobenius-norm relative error |estimate - reference| / |reference|."""
    reference = np.asarray(reference, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(estimate, np.float64) - reference) / np.linalg.norm(reference))
