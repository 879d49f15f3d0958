"""Registration of the ICT-FaceKit head onto our BFM no-neck topology (38,365 vertices).

The result says, for every BFM vertex, where it lies on the ICT surface (an ICT triangle and
barycentrics), and carries each ICT expression as a displacement of the BFM-topology mesh
(:mod:`engine.expression_template`). Computed once from the assets and cached in
``engine.assets.user_cache_dir()/derived``, keyed by the inputs' sha256 (it derives from BFM
data, so it is never part of the repository).

Steps, all in ICT's frame and millimetres:

1. **Similarity from landmarks.** The BFM mean face (``u_shp + u_exp`` at the no-neck
   vertices, micrometres) is moved onto ICT's neutral by the least-squares similarity that
   takes its 68 landmark vertices onto ICT's landmark vertices, leaving out the jaw contour
   (iBUG 0-16): the two models place those on different lines (24 mm apart on average).
2. **Non-rigid ICP.** Each BFM vertex is pulled to its closest point on ICT's skin, eye
   sockets and eyeballs, with a bi-Laplacian stiffness on its displacement from step 1 and the
   inner landmarks as soft constraints; stiffness and landmark weight go down over five
   levels, two closest-point updates each. A pair is rejected (the vertex then only follows
   its neighbours) when it is more than 10 mm long, ends on a border of the ICT surface, or
   the normals disagree by more than 60 degrees. One sparse LU factorisation per level.
3. **Correspondences.** The fitted mesh is projected once more onto ICT. Vertices whose point
   is on the skin are *supported*: expressions are read there. The others (the BFM's eye
   surface, lying on ICT's eyeballs, and the few rejected ones) get their motion from their
   neighbours (see :mod:`engine.expression_template`).

The report gives the residuals in mm (closest-point distance after the fit, median and 95th
percentile, and before it, after the similarity only), the landmark residual, the share of
supported vertices, the number of triangles the fit turned over and the run time.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assets import asset_path, derivation_key, user_cache_dir
from .errors import AssetError
from .expression_template import template_displacements
from .fileio import atomic_write_with
from .ict_facekit import ICT_MODEL, ICTFaceModel, ict_model_path, load_ict_model
from .landmarks import INNER_FACE
from .mesh_edges import boundary_edges, face_normals
from .mesh_geometry import bilaplacian, closest_points_on_mesh, vertex_normals
from .pose import fit_similarity

log = logging.getLogger(__name__)

# Bump when the derivation changes so stale caches are not reused.
DERIVATION_VERSION = "ict-bfm-registration-v1"
INPUT_FILES = (ICT_MODEL, "bfm/u_shp.npy", "bfm/u_exp.npy", "bfm/keypoints_sim.npy",
               "bfm_noneck/indices.npy", "bfm_noneck/tri.pkl")
MICROMETRES_TO_MM = 1e-3
INNER_LANDMARKS = np.asarray(INNER_FACE)  # defined alike in both models (the jaw line is not)
# (stiffness, landmark weight) per level; the data term weighs 1 per vertex.
SCHEDULE = ((100.0, 10.0), (30.0, 5.0), (10.0, 2.0), (3.0, 1.0), (1.0, 0.5))
ITERATIONS_PER_LEVEL = 2
MAX_PAIR_MM = 10.0
MIN_NORMAL_COSINE = 0.5


@dataclass(frozen=True, eq=False)  # identity hash: cached singletons
class ICTRegistration:
    """Where each BFM no-neck vertex lies on ICT, and ICT's expressions on our topology."""

    template: np.ndarray           # (38365, 3) the BFM mesh fitted onto ICT's neutral (ICT frame, mm)
    triangles: np.ndarray          # (76073, 3) the BFM triangles, wound outwards
    landmark_vertices: np.ndarray  # (68,) BFM no-neck vertex of each iBUG landmark
    ict_triangle: np.ndarray       # (38365,) index into ICTFaceModel.triangles
    ict_vertices: np.ndarray       # (38365, 3) ICT vertex ids of that triangle
    barycentrics: np.ndarray       # (38365, 3) of the point in that triangle
    distance: np.ndarray           # (38365,) mm from the template vertex to that point
    supported: np.ndarray          # (38365,) bool: the point is on ICT's skin and was accepted
    expression_names: tuple[str, ...]
    displacements: np.ndarray      # (57, 38365, 3) float32 mm: each expression on the template
    report: dict


def bfm_template(assets_dir: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The BFM mean face on the no-neck topology: (vertices mm, y up, triangles wound outwards,
    landmark vertex ids)."""
    from .uv_layout import load_uv_layout

    layout = load_uv_layout(assets_dir)
    try:
        mean = (np.load(asset_path("bfm/u_shp.npy", assets_dir))
                + np.load(asset_path("bfm/u_exp.npy", assets_dir))).reshape(-1, 3)
        keypoints = np.load(asset_path("bfm/keypoints_sim.npy", assets_dir)).astype(np.int64)
    except (OSError, ValueError) as exc:
        raise AssetError(f"the BFM mean face (bfm/u_shp.npy, bfm/u_exp.npy) is unreadable "
                         f"({exc}); replace it or run `prnet fetch-assets`") from exc
    vertices = mean[layout.bfm_vertex_ids].astype(np.float64) * MICROMETRES_TO_MM
    position = np.full(len(mean), -1, dtype=np.int64)
    position[layout.bfm_vertex_ids] = np.arange(len(layout.bfm_vertex_ids))
    landmarks = position[keypoints[::3] // 3]
    triangles = layout.bfm_triangles
    centre = vertices.mean(0)
    outward = (face_normals(vertices, triangles) * (vertices[triangles[:, 0]] - centre)).sum()
    return vertices, (triangles if outward > 0 else triangles[:, [0, 2, 1]]).copy(), landmarks


class _Target:
    """ICT's surface with what the pair rejection needs: normals and its border."""

    def __init__(self, ict: ICTFaceModel) -> None:
        self.vertices = ict.neutral
        self.triangles = ict.triangles
        self.normals = face_normals(self.vertices, self.triangles)
        border = boundary_edges(self.triangles)
        self.border_vertex = np.zeros(len(self.vertices), dtype=bool)
        self.border_vertex[border.ravel()] = True
        # Edge opposite corner k of each triangle lies on the border.
        key = lambda e: e[:, 0] * len(self.vertices) + e[:, 1]  # noqa: E731
        border_keys = np.sort(key(border))
        self.border_edge = np.zeros(self.triangles.shape, dtype=bool)
        for corner in range(3):
            edge = np.sort(self.triangles[:, [(corner + 1) % 3, (corner + 2) % 3]], axis=1)
            keys = key(edge)
            at = np.clip(np.searchsorted(border_keys, keys), 0, len(border_keys) - 1)
            self.border_edge[:, corner] = border_keys[at] == keys

    def closest(self, points: np.ndarray, k: int = 4):
        tri, bary, dist = closest_points_on_mesh(points, self.vertices, self.triangles, k=k)
        position = (bary[:, :, None] * self.vertices[self.triangles[tri]]).sum(1)
        on_border = ((self.border_edge[tri] & (bary < 1e-6)).any(1)
                     | (self.border_vertex[self.triangles[tri]] & (bary > 1 - 1e-6)).any(1))
        return tri, bary, dist, position, on_border

    def accepted(self, points, point_normals, tri, dist, on_border) -> np.ndarray:
        cosine = (point_normals * self.normals[tri]).sum(1)
        return (dist < MAX_PAIR_MM) & ~on_border & (cosine > MIN_NORMAL_COSINE)


def fit_template(template: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray,
                 target: _Target, target_landmarks: np.ndarray) -> np.ndarray:
    """Non-rigid ICP of ``template`` onto the target surface (module docstring, step 2)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = len(template)
    smooth = bilaplacian(triangles, n)
    pick = sp.csr_matrix((np.ones(len(landmarks)), (np.arange(len(landmarks)), landmarks)),
                         shape=(len(landmarks), n))
    fitted = template.copy()
    for stiffness, landmark_weight in SCHEDULE:
        solver = splu((sp.eye(n) + landmark_weight * (pick.T @ pick) + stiffness * smooth).tocsc(),
                      permc_spec="MMD_AT_PLUS_A")
        for _ in range(ITERATIONS_PER_LEVEL):
            tri, _, dist, position, on_border = target.closest(fitted)
            ok = target.accepted(fitted, vertex_normals(fitted, triangles), tri, dist, on_border)
            # A rejected vertex is asked to stay where it is: the matrix stays the same all level.
            goal = np.where(ok[:, None], position, fitted)
            fitted = solver.solve(goal + landmark_weight * (pick.T @ target_landmarks)
                                  + stiffness * (smooth @ template))
    return fitted


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 4),
            "p95": round(float(np.percentile(values, 95)), 4)}


def register(assets_dir: str | None = None) -> ICTRegistration:
    """Compute the registration (about a minute on one core); see the module docstring."""
    start = time.perf_counter()
    ict = load_ict_model(assets_dir)
    bfm, triangles, landmarks = bfm_template(assets_dir)
    target = _Target(ict)
    inner_bfm, inner_ict = landmarks[INNER_LANDMARKS], ict.landmark_vertices[INNER_LANDMARKS]
    scale, rotation, shift = fit_similarity(bfm[inner_bfm], ict.neutral[inner_ict])
    rigid = scale * bfm @ rotation.T + shift
    _, _, rigid_dist, _, _ = target.closest(rigid)

    fitted = fit_template(rigid, triangles, inner_bfm, target, ict.neutral[inner_ict])
    tri, bary, dist, _, on_border = target.closest(fitted)
    ok = target.accepted(fitted, vertex_normals(fitted, triangles), tri, dist, on_border)
    supported = ok & ict.skin[tri]
    fitted_seconds = time.perf_counter() - start

    displacements = template_displacements(fitted, triangles, landmarks, supported,
                                           ict.triangles[tri], bary, ict)
    turned = (face_normals(fitted, triangles) * face_normals(rigid, triangles)).sum(1) < 0
    landmark_residual = np.linalg.norm(fitted[inner_bfm] - ict.neutral[inner_ict], axis=1)
    report = {
        "rigid_scale_bfm_mm_to_ict": round(float(scale), 5),
        "residual_mm_rigid_only": _percentiles(rigid_dist),
        "residual_mm_supported": _percentiles(dist[supported]),
        "residual_mm_all": _percentiles(dist),
        "inner_landmark_residual_mm": {"mean": round(float(landmark_residual.mean()), 3),
                                       "max": round(float(landmark_residual.max()), 3)},
        "supported_share": round(float(supported.mean()), 4),
        "on_eye_parts": int((ok & ~ict.skin[tri]).sum()),
        "rejected": int((~ok).sum()),
        "turned_triangles": int(turned.sum()),
        "fit_seconds": round(fitted_seconds, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "version": DERIVATION_VERSION,
    }
    return ICTRegistration(
        template=fitted, triangles=triangles, landmark_vertices=landmarks, ict_triangle=tri,
        ict_vertices=ict.triangles[tri], barycentrics=bary, distance=dist, supported=supported,
        expression_names=ict.expression_names, displacements=displacements, report=report)


def inputs_key(assets_dir: str | None = None) -> str:
    """sha256 over the derivation version and the sha256 of every input file."""
    return derivation_key(DERIVATION_VERSION, [
        (relpath, ict_model_path(assets_dir) if relpath == ICT_MODEL else asset_path(relpath, assets_dir))
        for relpath in INPUT_FILES])


_ARRAYS = ("template", "triangles", "landmark_vertices", "ict_triangle", "ict_vertices",
           "barycentrics", "distance", "supported")


def cache_path(assets_dir: str | None = None) -> Path:
    return user_cache_dir() / "derived" / f"ict_bfm_registration_{inputs_key(assets_dir)[:24]}.npz"


def _read_cache(path: Path) -> ICTRegistration:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in _ARRAYS}
        return ICTRegistration(**arrays, expression_names=tuple(str(n) for n in data["names"]),
                               displacements=data["displacements"].astype(np.float32),
                               report=json.loads(str(data["report"])))


def _write_cache(path: Path, registration: ICTRegistration) -> None:
    def write(temp: Path) -> None:
        with open(temp, "wb") as handle:
            np.savez(handle, **{name: getattr(registration, name) for name in _ARRAYS},
                     names=np.array(registration.expression_names),
                     displacements=registration.displacements.astype(np.float32),
                     report=np.array(json.dumps(registration.report)))

    atomic_write_with(path, write)


@functools.lru_cache(maxsize=2)
def load_registration(assets_dir: str | None = None, use_cache: bool = True) -> ICTRegistration:
    """The registration from the user cache, computed (about a minute) and cached when missing."""
    path = cache_path(assets_dir)
    if use_cache and path.is_file():
        try:
            return _read_cache(path)
        except Exception as exc:  # noqa: BLE001 - a bad cache is rebuilt, never fatal
            log.warning("ignoring unreadable registration cache %s: %s", path, exc)
    log.info("registering ICT-FaceKit onto the BFM topology (cached afterwards)")
    registration = register(assets_dir)
    if use_cache:
        try:
            _write_cache(path, registration)
        except OSError as exc:
            log.warning("could not write the registration cache %s: %s", path, exc)
    return registration
