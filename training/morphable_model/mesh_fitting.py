"""Fitting per-vertex values over a mesh: its Laplacian, closest surface points, smooth spreading."""

from __future__ import annotations

import numpy as np

from engine.mesh_geometry import closest_points_on_mesh, mesh_laplacian

__all__ = ["closest_points_on_mesh", "mesh_laplacian", "relative_error", "spread_over_mesh"]


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
