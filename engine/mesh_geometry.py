"""Geometry queries on triangle meshes: closest surface points, the edge-graph Laplacian,
vertex normals.

Pure NumPy/SciPy on (N, 3) float vertices and (M, 3) integer triangles; used by the
ICT-to-BFM registration, the expression transfer and the training-side basis derivation.
"""

from __future__ import annotations

import numpy as np


def mesh_laplacian(triangles: np.ndarray, num_vertices: int):
    """Combinatorial graph Laplacian D - A of the mesh's edge graph (scipy CSR) and the degrees."""
    import scipy.sparse as sp

    tris = np.asarray(triangles, dtype=np.int64)
    i = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2]])
    j = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0]])
    adjacency = sp.coo_matrix((np.ones(i.size), (i, j)), shape=(num_vertices, num_vertices)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (sp.diags(degree) - adjacency).tocsr(), degree


def bilaplacian(triangles: np.ndarray, num_vertices: int):
    """``L^T D^-1 L`` of :func:`mesh_laplacian` (CSC): the smoothness energy of a per-vertex field."""
    import scipy.sparse as sp

    laplacian, degree = mesh_laplacian(triangles, num_vertices)
    return (laplacian.T @ sp.diags(1.0 / np.maximum(degree, 1)) @ laplacian).tocsc()


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) unit area-weighted vertex normals (zero for vertices without triangles)."""
    v = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    face = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(tris[:, corner], face[:, axis], minlength=len(v))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.maximum(length, 1e-300), 0.0)


def closest_points_on_mesh(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                           k: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest surface point of each query point among the triangles around its k nearest
    vertices: (triangle ids (P,), barycentrics (P, 3), distances (P,)).

    Vertices that no triangle uses (other parts of a multi-part model) are never candidates.
    """
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    verts = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    n, m = len(verts), len(tris)
    incidence = sp.csr_matrix((np.ones(3 * m), (tris.ravel(), np.repeat(np.arange(m), 3))),
                              shape=(n, m))
    used = np.unique(tris)
    if len(used) == n:
        _, nearest = cKDTree(verts).query(points, k=k)
    else:
        _, nearest = cKDTree(verts[used]).query(points, k=k)
        nearest = used[nearest]
    nearest = nearest.reshape(len(points), -1)
    # Candidate (point, triangle) pairs: every triangle touching one of the k vertices.
    rows = np.repeat(np.arange(len(points)), nearest.shape[1])
    cand = incidence[nearest.ravel()].tocoo()
    point_of = rows[cand.row]
    tri_of = cand.col
    closest, bary = closest_on_triangles(points[point_of], verts[tris[tri_of, 0]],
                                         verts[tris[tri_of, 1]], verts[tris[tri_of, 2]])
    dist = np.linalg.norm(closest - points[point_of], axis=1)
    order = np.lexsort((dist, point_of))
    first = order[np.r_[True, point_of[order][1:] != point_of[order][:-1]]]
    best = np.full(len(points), -1)
    best[point_of[first]] = first
    return tri_of[best], bary[best], dist[best]


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Closest point on triangles abc to points p (all (K, 3)) and its barycentrics;
    Voronoi-region test."""
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
