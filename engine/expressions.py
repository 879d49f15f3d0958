"""Expression shapes for a reconstructed face: ICT-FaceKit's 57 ARKit-style expressions on its mesh.

    from engine.expressions import with_expressions
    result = with_expressions(Reconstructor().reconstruct("face.jpg"))
    result.expressions.names            # ('PupilDilate_L', ..., 'jawOpen', ...)
    result.expressions.deltas           # (57, 38365, 3) float16, image pixels like mesh.vertices

or ``Reconstructor(expressions=True)``; a plain ``reconstruct()`` does not compute them.
Names are ICT's (``eyeBlink_L``: the subject's own left eye, as in ARKit).

**Method: deformation transfer in the rest pose's local frames** (after Sumner and Popovic
2004, linearised). The registration (:mod:`engine.ict_registration`) gives every expression
as a displacement ``D`` of a BFM-topology template shaped like ICT's neutral head. For a
face ``S`` with the same topology:

1. A similarity takes the template onto ``S`` (all vertices); ``D`` is rotated and scaled
   with it. That scaled field, ``u0``, is the plain per-vertex transfer.
2. For each triangle, ``R_t`` is the rotation part (polar decomposition) of the affine map
   taking the aligned template triangle (its two edges and unit normal) onto the face's
   triangle. Each edge ``e`` of the face's triangle is written in the template triangle's
   edge coordinates, ``c = E_src^+ R_t^T e``, and its wanted change is
   ``g = R_t (c_1 (D_b - D_a) + c_2 (D_c - D_a))``: the template's change of the
   corresponding edge, turned into the face's local frame and stretched with the face's
   triangle. So the motion follows the face's shape: a taller eye opening closes by more,
   a wider jaw swings further, a turned cheek moves along its own surface.
3. The displacement ``u`` minimises ``sum over edges |u_j - u_i - g|^2 + lambda |u - u0|^2``.
   The screening term fixes what edge differences cannot (the overall position) and keeps
   the far field at ``u0``; with ``lambda = 2.5e-3`` the gradients rule over about 20 edges.
   The matrix (graph Laplacian + lambda I) depends only on the topology, so it is
   factorised once per process; each face costs back-substitutions only (171 columns).

Onto the template itself this reproduces ``D`` exactly (tested); transfer commutes with
rotating and scaling the face.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np

from .errors import PRNetError
from .ict_registration import ICTRegistration, load_registration
from .result import ExpressionShapes, ReconstructionResult
from .uv_layout import NUM_BFM_VERTICES

SCREENING = 2.5e-3
FRAMES = ("image", "y_up")
_CHUNK = 8   # expressions per batch (bounds the temporary arrays to ~20 MB)


def check_face_mesh(vertices: np.ndarray, num_vertices: int) -> np.ndarray:
    """The vertices as float64, or a PRNetError if they cannot carry expressions."""
    target = np.asarray(vertices, dtype=np.float64)
    if target.shape != (num_vertices, 3):
        raise PRNetError(f"expression transfer needs a {num_vertices}-vertex BFM-topology "
                         f"mesh, got {target.shape}; reconstruct with topology='bfm'")
    if not np.isfinite(target).all() or np.ptp(target, axis=0).min() <= 0:
        raise PRNetError("the face mesh is flat or not finite (untrained weights?): it cannot "
                         "carry expression shapes; reconstruct with trained weights")
    return target


def _polar_rotation(matrices: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(matrices)
    flip = np.linalg.det(u @ vt) < 0
    u[flip, :, 2] *= -1
    return u @ vt


def _edges_and_normals(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    edges = np.stack([b - a, c - a], axis=2)                       # (M, 3, 2)
    normals = np.cross(edges[:, :, 0], edges[:, :, 1])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
    return edges, normals


class ExpressionTransfer:
    """Transfers a registration's expressions onto meshes of its topology (module docstring)."""

    def __init__(self, registration: ICTRegistration, screening: float = SCREENING) -> None:
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        self.registration = registration
        self.names = registration.expression_names
        self.triangles = np.asarray(registration.triangles, dtype=np.int64)
        self.screening = float(screening)
        tris, n = self.triangles, len(registration.template)
        m = len(tris)
        # Edges a->b, b->c, c->a of every triangle, edge-major (row = edge * M + triangle).
        self.edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
        rows = np.arange(3 * m)
        difference = sp.csr_matrix((np.r_[-np.ones(3 * m), np.ones(3 * m)],
                                    (np.r_[rows, rows], np.r_[self.edges[:, 0], self.edges[:, 1]])),
                                   shape=(3 * m, n))
        system = (difference.T @ difference + self.screening * sp.identity(n)).tocsc()
        # Single precision halves the back-substitution; the results are float16 anyway.
        self._solver = splu(system.astype(np.float32), permc_spec="MMD_AT_PLUS_A")

    def displacements(self, vertices: np.ndarray, frame: Literal["image", "y_up"] = "image"
                      ) -> np.ndarray:
        """(57, N, 3) float32 displacement of each expression for the mesh ``vertices`` (N, 3),
        in the same frame and units."""
        import scipy.sparse as sp

        from .pose import fit_similarity

        if frame not in FRAMES:
            raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
        template, tris = self.registration.template, self.triangles
        target = check_face_mesh(vertices, len(template))
        flip = np.array([1.0, -1.0, 1.0]) if frame == "image" else np.ones(3)
        target = target * flip  # into a right-handed y-up frame like the template's
        scale, rotation, shift = fit_similarity(template, target)
        source_edges, source_normals = _edges_and_normals(scale * template @ rotation.T + shift, tris)
        target_edges, target_normals = _edges_and_normals(target, tris)
        affine = (np.concatenate([target_edges, target_normals[:, :, None]], axis=2)
                  @ np.linalg.inv(np.concatenate([source_edges, source_normals[:, :, None]], axis=2)))
        local = _polar_rotation(affine)
        # Each target edge in the source triangle's edge coordinates: c = E_src^+ R^T e.
        gram_inverse = np.linalg.inv(source_edges.transpose(0, 2, 1) @ source_edges)
        m, n = len(tris), len(template)
        edge_vectors = (target[self.edges[:, 1]] - target[self.edges[:, 0]]).reshape(3, m, 3)
        unturned = np.einsum("mji,emj->mei", local, edge_vectors)              # R^T e
        coords = np.einsum("mab,mjb,mej->mea", gram_inverse, source_edges, unturned)  # (M, 3, 2)
        # rhs = D^T g is linear in the turned template edge changes: two (N x M) scatters.
        spreads = []
        for component in range(2):
            values = coords[:, :, component].T.ravel()          # edge-major like self.edges
            triangle = np.tile(np.arange(m), 3)
            spreads.append(sp.csr_matrix(
                (np.r_[values, -values], (np.r_[self.edges[:, 1], self.edges[:, 0]],
                                          np.r_[triangle, triangle])), shape=(n, m)))
        out = np.empty((len(self.names), n, 3), dtype=np.float32)
        for first in range(0, len(self.names), _CHUNK):
            chunk = self.registration.displacements[first:first + _CHUNK].astype(np.float64)
            moved = scale * chunk @ rotation.T                 # u0, in the target's frame
            k = len(chunk)
            rhs = self.screening * moved.transpose(1, 0, 2).reshape(n, 3 * k)
            for spread, corner in zip(spreads, (1, 2)):
                change = (moved[:, tris[:, corner]] - moved[:, tris[:, 0]]).transpose(1, 0, 2)
                # R (D_b - D_a) for every triangle, written out (faster than batched 3x3 matmuls)
                turned = sum(local[:, None, :, j] * change[:, :, j, None] for j in range(3))
                rhs += spread @ turned.reshape(m, 3 * k)
            solved = self._solver.solve(rhs.astype(np.float32)).reshape(n, k, 3).transpose(1, 0, 2)
            out[first:first + k] = solved * flip
        return out


@functools.lru_cache(maxsize=2)
def expression_transfer(assets_dir: str | None = None) -> ExpressionTransfer:
    """The transfer for the asset registration (built once per process: a few seconds, plus
    the registration itself on its first run)."""
    return ExpressionTransfer(load_registration(assets_dir))


def transfer_expressions(vertices: np.ndarray, frame: Literal["image", "y_up"] = "image",
                         assets_dir: str | None = None) -> ExpressionShapes:
    """ICT's 57 expressions as displacements (float16) of a BFM-topology mesh (38,365 vertices)
    in any units; ``frame``: "image" (x right, y down, z to the camera: the engine's) or
    "y_up" (x right, y up, z out of the face: BFM's, ICT's, OBJ's)."""
    check_face_mesh(vertices, NUM_BFM_VERTICES)  # before the (slow) first load
    transfer = expression_transfer(assets_dir)
    deltas = transfer.displacements(vertices, frame)
    return ExpressionShapes(names=transfer.names, deltas=deltas.astype(np.float16))


def with_expressions(result: ReconstructionResult, assets_dir: str | None = None
                     ) -> ReconstructionResult:
    """A copy of ``result`` with :attr:`ReconstructionResult.expressions` filled in."""
    if result.mesh.topology != "bfm":
        raise PRNetError(f"expression shapes need the BFM topology, this result has "
                         f"'{result.mesh.topology}'; reconstruct with topology='bfm'")
    return dataclasses.replace(result, expressions=transfer_expressions(result.mesh.vertices,
                                                                        "image", assets_dir))
