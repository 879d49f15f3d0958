"""Distances over a triangle mesh's surface, and diffusion over it (numpy + scipy, no bpy).

The heat method (Crane, Weischedel and Wardetzky, "Geodesics in Heat", 2013):
diffuse heat from the source vertices for a short time, normalise its gradient
and recover the distance with a Poisson solve. Both sparse systems are factorised
once, so many source sets cost one pair of triangular solves each. Over the
surface, not through space: on the BFM mesh, which has an open mouth slit, the
upper lip is far from the lower lip's landmarks (round the mouth corners)
although the two touch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_CHUNK = 16  # source sets per batched solve (bounds the (faces, 3, chunk) gradient arrays)


class SurfaceDistance:
    """Heat-method geodesic distances on one triangle mesh, factorised once."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, time_factor: float = 1.0) -> None:
        from scipy import sparse
        from scipy.sparse import csgraph

        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        count = len(self.vertices)
        corners = self.vertices[self.triangles]                      # (M, 3, 3)
        cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        double_area = np.linalg.norm(cross, axis=1)
        valid = double_area > 1e-12 * max(double_area.max(initial=0.0), 1e-30)
        normals = np.zeros_like(cross)
        normals[valid] = cross[valid] / double_area[valid, None]
        cot = self._corner_cotangents(corners, valid)

        # Stiffness K = -(cotan Laplacian): the cotangent at corner i weights the opposite edge.
        rows, cols, values = [], [], []
        for i in range(3):
            j, k = self.triangles[:, (i + 1) % 3], self.triangles[:, (i + 2) % 3]
            half = 0.5 * cot[:, i]
            rows += [j, k, j, k]
            cols += [k, j, j, k]
            values += [-half, -half, half, half]
        stiffness = sparse.csc_matrix((np.concatenate(values),
                                       (np.concatenate(rows), np.concatenate(cols))),
                                      shape=(count, count))
        mass = np.zeros(count)
        np.add.at(mass, self.triangles.ravel(), np.repeat(double_area / 6.0, 3))
        # Vertices on no triangle of any area (collapsed onto a neighbour, or unused) are outside
        # both systems; they take the distances of the nearest vertex that is inside.
        self._outside = np.flatnonzero(mass <= 0.0)
        self._stand_in = self._nearest_inside(mass > 0.0)
        self._inside_of = np.arange(count)
        self._inside_of[self._outside[:len(self._stand_in)]] = self._stand_in
        mass = np.maximum(mass, 1e-12 * max(mass.max(initial=0.0), 1e-30))
        self.mass = mass

        edges = np.concatenate([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 1],
                                corners[:, 0] - corners[:, 2]])
        step = float(np.linalg.norm(edges, axis=1).mean()) if len(edges) else 1.0
        mass_matrix = sparse.diags(mass).tocsc()
        self._stiffness, self._mass_matrix = stiffness, mass_matrix
        self._heat = _factorise(mass_matrix + (time_factor * step * step) * stiffness)
        # K is singular on constants; a small mass term (1e-8 of the diagonal) makes it definite
        # without moving the answer: the right-hand side is made mass-orthogonal to the constants.
        regular = 1e-8 * stiffness.diagonal().mean() / mass.mean()
        self._poisson = _factorise(stiffness + regular * mass_matrix)

        # Per-corner gradient vectors (n x opposite edge) / 2A and divergence vectors.
        self._gradient = []
        self._divergence = []
        inverse = np.zeros_like(double_area)
        inverse[valid] = 1.0 / double_area[valid]
        for i in range(3):
            a, b, c = corners[:, i], corners[:, (i + 1) % 3], corners[:, (i + 2) % 3]
            self._gradient.append(np.cross(normals, c - b) * inverse[:, None])
            # div_i = 1/2 sum_f [cot(at c) (b - a) + cot(at b) (c - a)] . X_f
            self._divergence.append(0.5 * (cot[:, (i + 2) % 3, None] * (b - a)
                                           + cot[:, (i + 1) % 3, None] * (c - a)))
        self._scatter = [sparse.csr_matrix((np.ones(len(self.triangles)),
                                            (self.triangles[:, i], np.arange(len(self.triangles)))),
                                           shape=(count, len(self.triangles))) for i in range(3)]
        pairs = np.concatenate([self.triangles[:, [0, 1]], self.triangles[:, [1, 2]],
                                self.triangles[:, [2, 0]]])
        graph = sparse.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                                  shape=(count, count))
        _, self._component = csgraph.connected_components(graph, directed=False)

    def _nearest_inside(self, inside: np.ndarray) -> np.ndarray:
        if len(self._outside) == 0 or not inside.any():
            return np.empty(0, dtype=np.int64)
        from scipy.spatial import cKDTree

        candidates = np.flatnonzero(inside)
        _, nearest = cKDTree(self.vertices[candidates]).query(self.vertices[self._outside])
        return candidates[nearest]

    @staticmethod
    def _corner_cotangents(corners: np.ndarray, valid: np.ndarray) -> np.ndarray:
        cot = np.zeros((len(corners), 3))
        for i in range(3):
            u = corners[:, (i + 1) % 3] - corners[:, i]
            w = corners[:, (i + 2) % 3] - corners[:, i]
            sine = np.linalg.norm(np.cross(u, w), axis=1)
            cot[valid, i] = (u * w).sum(1)[valid] / sine[valid]
        return cot

    def distances(self, sources: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(sources), N) distance of every vertex from each source set; inf where unreachable."""
        out = np.empty((len(sources), len(self.vertices)))
        for start in range(0, len(sources), _CHUNK):
            chunk = sources[start:start + _CHUNK]
            out[start:start + len(chunk)] = self._solve(chunk).T
        return out

    def _solve(self, sources: Sequence[Sequence[int]]) -> np.ndarray:
        count = len(self.vertices)
        delta = np.zeros((count, len(sources)))
        sources = [self._inside_of[np.asarray(v, dtype=np.int64)] for v in sources]
        for column, vertices in enumerate(sources):
            delta[vertices, column] = 1.0
        heat = self._heat.solve(delta)                                   # (N, k)
        # Gradient per face, normalised, pointing away from the sources.
        gradient = sum(g[:, :, None] * heat[self.triangles[:, i]][:, None, :]
                       for i, g in enumerate(self._gradient))             # (M, 3, k)
        length = np.linalg.norm(gradient, axis=1, keepdims=True)
        field = np.where(length > 1e-300, -gradient / np.maximum(length, 1e-300), 0.0)
        divergence = sum(s @ np.einsum("fd,fdk->fk", d, field)
                         for s, d in zip(self._scatter, self._divergence))  # (N, k)
        # Lc phi = div X with Lc = -K; remove the constant part so the system is consistent.
        rhs = -divergence
        rhs -= self.mass[:, None] * (rhs.sum(0) / self.mass.sum())[None, :]
        phi = self._poisson.solve(rhs)
        for column, vertices in enumerate(sources):
            phi[:, column] -= phi[vertices, column].min()
            reached = np.isin(self._component, self._component[vertices])
            phi[~reached, column] = np.inf
        if len(self._stand_in):
            phi[self._outside] = phi[self._stand_in]
        return np.maximum(phi, 0.0)


    def smooth(self, values: np.ndarray, length: float, steps: int = 4) -> np.ndarray:
        """(N, k) per-vertex values diffused over the surface by about ``length``."""
        values = np.asarray(values, dtype=np.float64)
        if length <= 0.0 or steps < 1:
            return values
        # Each implicit step of time tau spreads by sqrt(2 tau); ``steps`` of them by ``length``.
        tau = length * length / (2.0 * steps)
        system = _factorise(self._mass_matrix + tau * self._stiffness)
        for _ in range(steps):
            values = system.solve(self._mass_matrix @ values)
        if len(self._stand_in):
            values[self._outside] = values[self._stand_in]
        return values


def _factorise(matrix):
    """Sparse LU of a symmetric matrix; a symmetric ordering is ~2x faster than the default."""
    from scipy.sparse import linalg

    return linalg.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
