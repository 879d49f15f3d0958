"""Scoring predictors on test faces: one record per (face, predictor), summarised by yaw."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from engine.crop import landmark_box
from engine.uv_layout import UVLayout, load_uv_layout

from .. import metrics
from ..datasets import DatasetError
from .faces import EvalSample
from .predictors import Predictor

METRICS = ("nme2d", "nme3d", "dense_nme", "reconstruction_nme", "fold_share", "edge_ratio",
           "mean_bend", "gt_fold_share", "gt_edge_ratio", "gt_mean_bend", "pose_mae")
SURFACE_METRICS = ("fold_share", "edge_ratio", "mean_bend", "gt_fold_share", "gt_edge_ratio",
                   "gt_mean_bend")


@dataclass
class EvalReport:
    dataset: str
    records: list[dict] = field(default_factory=list)   # one per (sample, predictor)
    predictors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    missed: list[str] = field(default_factory=list)      # faces the face-box source did not find

    def errors(self, predictor: str, metric: str) -> np.ndarray:
        values = [r[metric] for r in self.records
                  if r["predictor"] == predictor and r.get(metric) is not None]
        return np.asarray(values, dtype=np.float64)

    def yaws(self, predictor: str, metric: str) -> np.ndarray:
        return np.asarray([r["yaw_deg"] for r in self.records
                           if r["predictor"] == predictor and r.get(metric) is not None])

    def summary(self) -> dict:
        out = {}
        for name in self.predictors:
            entry = {}
            for metric in METRICS:
                errors = self.errors(name, metric)
                if errors.size == 0:
                    continue
                entry[metric] = metrics.summarise_by_yaw(errors, self.yaws(name, metric))
                if metric.endswith("nme") or metric.startswith("nme"):
                    entry[metric]["auc_0.07"] = metrics.ced_auc(errors, 0.07)
                if metric == "pose_mae":
                    entry[metric]["per_angle"] = {
                        angle: float(np.mean([r[f"{angle}_error"] for r in self.records
                                              if r["predictor"] == name and f"{angle}_error" in r]))
                        for angle in ("yaw", "pitch", "roll")}
            out[name] = entry
        return out


def surface_records(vertices: np.ndarray, layout: UVLayout, prefix: str = "") -> dict:
    """Fold share, longest/median edge and mean bend of a BFM-topology mesh (training.metrics)."""
    edges, pairs = _interior_edges(layout)
    angles = metrics.dihedral_angles(vertices, pairs, layout.bfm_triangles)
    return {f"{prefix}fold_share": float(np.mean(angles > metrics.FOLD_ANGLE_DEG)),
            f"{prefix}edge_ratio": metrics.edge_length_ratio(vertices, edges),
            f"{prefix}mean_bend": float(np.mean(angles))}


@functools.lru_cache(maxsize=2)
def _interior_edges(layout: UVLayout) -> tuple[np.ndarray, np.ndarray]:
    from engine.mesh_edges import interior_edge_triangles, unique_edges

    return unique_edges(layout.bfm_triangles)[0], interior_edge_triangles(layout.bfm_triangles)[1]


def pose_records(dense: np.ndarray, truth_deg: tuple[float, float, float], layout: UVLayout) -> dict:
    """Absolute yaw, pitch and roll errors (degrees) of the pose read from the dense points."""
    from engine.pose import estimate_pose

    pose = estimate_pose(np.asarray(dense, np.float64), layout.canonical_vertices)
    errors = {}
    for angle, truth in zip(("yaw", "pitch", "roll"), truth_deg):
        difference = (getattr(pose, angle) - truth + 180.0) % 360.0 - 180.0
        errors[f"{angle}_error"] = abs(float(difference))
    errors["pose_mae"] = float(np.mean(list(errors.values())))
    return errors


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union if union > 0 else 0.0


def detector_box(detector: str) -> Callable[[EvalSample], tuple[float, float, float, float] | None]:
    """A face-box source: the detector's box that overlaps the annotated face most (IoU >= 0.3
    with its landmark box), or None when the detector misses that face."""
    from engine.detect import detect_faces

    def find(sample: EvalSample):
        truth = landmark_box(sample.landmarks)
        boxes = [d.box for d in detect_faces(sample.image, detector, thorough=True)]
        best = max(boxes, key=lambda box: box_iou(box, truth), default=None)
        return best if best is not None and box_iou(best, truth) >= 0.3 else None

    return find


def evaluate_samples(samples: Iterable[EvalSample], predictors: dict[str, Predictor],
                     dataset: str = "", progress: bool = False, total: int | None = None,
                     icp_iterations: int = 3, layout: UVLayout | None = None,
                     face_box: Callable[[EvalSample], tuple | None] | None = None) -> EvalReport:
    """Score every predictor on every sample.

    The face box is the tight ground-truth landmark box, or what ``face_box(sample)`` returns
    (e.g. :func:`detector_box`); a sample it returns None for is counted in ``report.missed``.
    """
    from tqdm import tqdm

    layout = layout or load_uv_layout()
    report = EvalReport(dataset=dataset, predictors=list(predictors))
    start = time.time()
    for sample in tqdm(samples, total=total, desc=f"eval {dataset}", unit="face", disable=not progress):
        bbox = landmark_box(sample.landmarks) if face_box is None else face_box(sample)
        if bbox is None:
            report.missed.append(sample.name)
            continue
        norm = metrics.bbox_size(sample.landmarks)
        if not norm > 0:
            raise DatasetError(f"{sample.name}: the ground-truth landmarks have an empty box")
        for name, predictor in predictors.items():
            prediction = predictor(sample.image, bbox)
            record = {"name": sample.name, "predictor": name, "yaw_deg": sample.yaw_deg,
                      "bbox_size": norm,
                      "nme2d": metrics.nme(prediction.landmarks, sample.landmarks, norm, dims=2),
                      "nme3d": (metrics.nme(prediction.landmarks, sample.landmarks, norm, dims=3)
                                if np.isfinite(sample.landmarks[:, 2]).all() else None)}
            if sample.dense is not None:
                record["dense_nme"] = metrics.nme(prediction.dense, sample.dense, norm, dims=3)
                record["reconstruction_nme"] = metrics.reconstruction_nme(
                    prediction.dense, sample.dense, metrics.interocular_distance(sample.landmarks),
                    icp_iterations=icp_iterations)
            if prediction.vertices is not None:
                record.update(surface_records(prediction.vertices, layout))
                if sample.vertices is not None:
                    record.update(surface_records(sample.vertices, layout, prefix="gt_"))
            if sample.pose_deg is not None:
                record.update(pose_records(prediction.dense, sample.pose_deg, layout))
            report.records.append(record)
    report.seconds = time.time() - start
    if not report.records:
        raise DatasetError(f"no test faces in {dataset}")
    return report
