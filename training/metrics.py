"""Alignment and reconstruction metrics (pure NumPy).

Conventions (those of the PRNet / 3DDFA evaluations on AFLW2000-3D):

- **NME 2D / 3D (68 points)**: mean over the 68 landmarks of the Euclidean error,
  divided by ``sqrt(w * h)`` of the ground-truth 2D landmark box. For 3D the depth
  origin is arbitrary in both the prediction and the ground truth, so the mean z
  difference is removed first (a z translation only; x and y are not touched).
- **yaw buckets**: ``|yaw|`` in degrees in [0, 30], (30, 60], (60, 90]; faces
  beyond 90 degrees go to the last bucket (as in 3DDFA's protocol). The published
  "mean" is the mean of the three bucket means (balanced across poses).
- **dense NME**: the same as NME 3D but over the 43,867 dense face points.
- **reconstruction NME** (Florence style): the predicted dense points are aligned
  to the ground-truth ones by a similarity (rotation, translation, scale) found
  with the known UV correspondences (Umeyama), then refined by a few rigid ICP
  iterations with nearest neighbours (no scale there: a scale-free ICP can shrink
  the prediction onto a single point). The error is the symmetric mean
  nearest-neighbour distance (half prediction -> GT, half GT -> prediction, so a
  collapsed or partial prediction cannot score well), divided by the **outer
  interocular distance** (3D distance between GT landmarks 37 and 46, i.e.
  indices 36 and 45) as in the PRNet paper's Florence table.
- **CED**: the fraction of samples whose error is <= each threshold.
"""

from __future__ import annotations

import numpy as np

from engine.landmarks import OUTER_EYE_CORNERS
from engine.pose import fit_similarity

YAW_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("[0,30]", 0.0, 30.0), ("(30,60]", 30.0, 60.0), ("(60,90]", 60.0, float("inf")))


def bbox_size(landmarks: np.ndarray) -> float:
    """``sqrt(w * h)`` of the tight 2D box of (N, >=2) points."""
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    width, height = xy.max(axis=0) - xy.min(axis=0)
    return float(np.sqrt(max(width, 0.0) * max(height, 0.0)))


def interocular_distance(landmarks: np.ndarray) -> float:
    """3D (or 2D, if only x, y are given) distance between the outer eye corners of 68 landmarks."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[OUTER_EYE_CORNERS[0]] - points[OUTER_EYE_CORNERS[1]]))


def point_errors(prediction: np.ndarray, target: np.ndarray, dims: int = 2,
                 remove_z_offset: bool = True) -> np.ndarray:
    """Per-point Euclidean errors over the first ``dims`` coordinates (2 or 3)."""
    pred = np.asarray(prediction, dtype=np.float64)[:, :dims]
    gt = np.asarray(target, dtype=np.float64)[:, :dims]
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and target {gt.shape} differ")
    if dims == 3 and remove_z_offset:
        pred = pred.copy()
        pred[:, 2] -= (pred[:, 2] - gt[:, 2]).mean()
    return np.linalg.norm(pred - gt, axis=1)


def nme(prediction: np.ndarray, target: np.ndarray, normaliser: float, dims: int = 2,
        remove_z_offset: bool = True) -> float:
    """Mean point error divided by ``normaliser`` (e.g. :func:`bbox_size` of the GT landmarks)."""
    if not normaliser > 0:
        raise ValueError(f"normaliser must be positive, got {normaliser}")
    return float(point_errors(prediction, target, dims, remove_z_offset).mean() / normaliser)


def yaw_bucket(yaw_deg: float) -> str:
    """The name of the |yaw| bucket of a pose (degrees); "unknown" for NaN (2D-only annotations)."""
    value = abs(float(yaw_deg))
    if value != value:
        return "unknown"
    for name, low, high in YAW_BUCKETS:
        if (low == 0.0 and value <= high) or low < value <= high:
            return name
    return YAW_BUCKETS[-1][0]


def summarise_by_yaw(errors: np.ndarray, yaws_deg: np.ndarray) -> dict:
    """Per-bucket mean errors, their mean (the published number) and the overall mean."""
    errors = np.asarray(errors, dtype=np.float64)
    buckets = np.array([yaw_bucket(y) for y in np.asarray(yaws_deg, dtype=np.float64)])
    out: dict = {"buckets": {}, "counts": {}}
    for name, _, _ in YAW_BUCKETS:
        chosen = errors[buckets == name]
        out["buckets"][name] = float(chosen.mean()) if chosen.size else None
        out["counts"][name] = int(chosen.size)
    present = [v for v in out["buckets"].values() if v is not None]
    out["balanced_mean"] = float(np.mean(present)) if present else None
    out["mean"] = float(errors.mean()) if errors.size else None
    out["median"] = float(np.median(errors)) if errors.size else None
    return out


def ced_curve(errors: np.ndarray, thresholds: np.ndarray | None = None,
              max_threshold: float = 0.1, steps: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: (thresholds, fraction of errors <= each threshold)."""
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    if thresholds is None:
        thresholds = np.linspace(0.0, max_threshold, steps)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if errors.size == 0:
        return thresholds, np.zeros_like(thresholds)
    return thresholds, np.searchsorted(errors, thresholds, side="right") / errors.size


def ced_auc(errors: np.ndarray, max_threshold: float = 0.07, steps: int = 1001) -> float:
    """Area under the CED curve up to ``max_threshold``, normalised to [0, 1]."""
    thresholds, fractions = ced_curve(errors, max_threshold=max_threshold, steps=steps)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed it
    return float(trapezoid(fractions, thresholds) / max_threshold)


def apply_similarity(points: np.ndarray, scale: float, rotation: np.ndarray,
                     translation: np.ndarray) -> np.ndarray:
    return scale * np.asarray(points, dtype=np.float64) @ rotation.T + translation


def icp_align(source: np.ndarray, target: np.ndarray, iterations: int = 3,
              corresponding: bool = True, with_scale: bool = True, stride: int = 1) -> np.ndarray:
    """``source`` moved onto ``target``: a similarity (``with_scale``) from the given
    correspondences (when ``corresponding``, else matching centroids), then ``iterations``
    rounds of rigid nearest-neighbour ICP on every ``stride``-th source point."""
    from scipy.spatial import cKDTree

    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if corresponding:
        src = apply_similarity(src, *fit_similarity(src, dst, with_scale))
    else:
        src = src - src.mean(axis=0) + dst.mean(axis=0)
    if iterations > 0:
        tree = cKDTree(dst)
        for _ in range(iterations):
            _, nearest = tree.query(src[::stride])
            src = apply_similarity(src, *fit_similarity(src[::stride], dst[nearest],
                                                          with_scale=False))
    return src


def reconstruction_nme(prediction: np.ndarray, target: np.ndarray, normaliser: float,
                       icp_iterations: int = 3, stride: int = 4) -> float:
    """Symmetric mean nearest-neighbour distance after alignment, over ``normaliser``.

    The nearest-neighbour queries start from every ``stride``-th point (into the full other
    cloud): a mean over ~11,000 of the 43,867 distances, several times faster.
    """
    from scipy.spatial import cKDTree

    if not normaliser > 0:
        raise ValueError(f"normaliser must be positive, got {normaliser}")
    target = np.asarray(target, dtype=np.float64)
    aligned = icp_align(prediction, target, iterations=icp_iterations, stride=stride)
    to_target, _ = cKDTree(target).query(aligned[::stride])
    to_prediction, _ = cKDTree(aligned).query(target[::stride])
    return float(0.5 * (to_target.mean() + to_prediction.mean()) / normaliser)


# ----------------------------------------------------------------------------- surface quality

FOLD_ANGLE_DEG = 60.0


def dihedral_angles(vertices: np.ndarray, pairs: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Angle in degrees between the normals of the two triangles of each interior edge (their
    mean is prnet-eval's ``mean_bend``: gentle lumps that fold nothing still raise it).

    ``pairs`` (E, 2) are the two triangles of each interior edge
    (``engine.mesh_edges.interior_edge_triangles``); a degenerate triangle counts as 90 degrees.
    """
    from engine.mesh_edges import face_normals

    normals = face_normals(vertices, triangles)
    cosine = np.einsum("ij,ij->i", normals[pairs[:, 0]], normals[pairs[:, 1]])
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def fold_share(vertices: np.ndarray, pairs: np.ndarray, triangles: np.ndarray,
               angle_deg: float = FOLD_ANGLE_DEG) -> float:
    """Share of interior edges whose two triangles' normals differ by more than ``angle_deg``.

    A smooth face has almost none (the BFM mean face: about 0.1%); a scaly ripple has many.
    """
    return float(np.mean(dihedral_angles(vertices, pairs, triangles) > angle_deg))


def edge_length_ratio(vertices: np.ndarray, edges: np.ndarray) -> float:
    """Longest edge over the median edge: fins and spikes make it large (mean face: about 10)."""
    v = np.asarray(vertices, dtype=np.float64)
    lengths = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    median = float(np.median(lengths))
    return float(lengths.max() / median) if median > 0 else float("inf")
