"""Evaluating a weights file on AFLW2000-3D-style folders and held-out synthetic faces.

For every test face the predictor gets the image and a face box (for now the
tight box of the ground-truth 2D landmarks, the usual protocol), crops it with
:mod:`engine.crop`, runs the network and maps the position map back to the image
with :func:`engine.crop.crop_to_image`; the 68 landmarks are read at
``engine.uv_layout`` keypoint pixels and the dense points at ``face_indices``.
The metrics are defined in :mod:`training.metrics`.

Beside the model, the baseline "BFM mean face placed by the face box"
(:func:`mean_face_prediction`) is scored the same way: any trained network must
beat it by a wide margin.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from engine.crop import crop_to_image, landmark_box
from engine.predict import predict_position_map
from engine.fileio import atomic_write_text, atomic_write_with
from engine.image_io import IMAGE_SUFFIXES
from engine.uv_layout import NUM_LANDMARKS, UVLayout, load_uv_layout, read_landmarks, sample_bilinear

from . import metrics
from .datasets import DatasetError

# Synthetic test faces use seeds from here on; training seeds start at 0 by default.
EVAL_BASE_SEED = 1_000_000_000
METRICS = ("nme2d", "nme3d", "dense_nme", "reconstruction_nme", "fold_share", "edge_ratio",
           "gt_fold_share", "gt_edge_ratio", "pose_mae")
SURFACE_METRICS = ("fold_share", "edge_ratio", "gt_fold_share", "gt_edge_ratio")
METRIC_TITLES = {
    "nme2d": "68-point NME 2D (/ sqrt(w*h) of the GT box)",
    "nme3d": "68-point NME 3D (/ sqrt(w*h) of the GT box)",
    "dense_nme": "dense NME 3D (/ sqrt(w*h) of the GT box)",
    "reconstruction_nme": "reconstruction NME, symmetric NN after alignment (/ outer interocular)",
    "fold_share": "share of interior BFM-topology edges folding > 60 degrees",
    "edge_ratio": "longest / median edge of the BFM-topology mesh",
    "gt_fold_share": "ground truth: share of edges folding > 60 degrees",
    "gt_edge_ratio": "ground truth: longest / median edge",
    "pose_mae": "head pose mean absolute error (degrees, mean of yaw, pitch, roll)",
}


@dataclass(frozen=True)
class EvalSample:
    """One test face: image (H, W, 3) uint8 RGB and ground truth in its pixel frame."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray                 # (68, 3) x right, y down, z towards the camera
    yaw_deg: float
    dense: np.ndarray | None = None       # (43867, 3) where a dense ground truth exists
    vertices: np.ndarray | None = None    # (38365, 3) ground-truth BFM-topology mesh vertices
    pose_deg: tuple[float, float, float] | None = None  # ground-truth (yaw, pitch, roll), ours


@dataclass(frozen=True)
class Prediction:
    landmarks: np.ndarray                 # (68, 3) in the image frame
    dense: np.ndarray                     # (43867, 3)
    vertices: np.ndarray | None = None    # (38365, 3) BFM-topology mesh vertices


Predictor = Callable[[np.ndarray, tuple[float, float, float, float]], Prediction]


# ----------------------------------------------------------------------------- predictors

def read_position_map(position_map: np.ndarray, layout: UVLayout) -> Prediction:
    position_map = np.asarray(position_map, dtype=np.float64)
    flat = position_map.reshape(-1, 3)
    return Prediction(landmarks=read_landmarks(position_map, layout), dense=flat[layout.face_indices],
                      vertices=sample_bilinear(position_map, layout.bfm_map_pixels))


class NetworkPredictor:
    """The engine's prediction step (:func:`engine.predict.predict_position_map`) on a face box."""

    def __init__(self, model, layout: UVLayout | None = None, two_pass: bool = False,
                 flip: bool = False) -> None:
        self.model = model.eval()
        self.layout = layout or load_uv_layout()
        self.two_pass = two_pass
        self.flip = flip

    def position_map(self, image: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """The UV map in the image frame."""
        prediction = predict_position_map(self.model, image, bbox, self.layout,
                                          two_pass=self.two_pass, flip=self.flip)
        return crop_to_image(prediction.crop_map, prediction.matrix)

    def __call__(self, image: np.ndarray, bbox: tuple[float, float, float, float]) -> Prediction:
        return read_position_map(self.position_map(image, bbox), self.layout)


def mean_face_prediction(bbox: tuple[float, float, float, float],
                         layout: UVLayout | None = None) -> Prediction:
    """The baseline: the BFM mean face (PRNet's canonical vertices) placed into a face box.

    The mean face's 68 landmarks span a 2D box; x and y are scaled so that this
    box becomes ``bbox`` and z by the geometric mean of the two scales, then
    everything is shifted onto the box. ``bbox`` is (x0, y0, x1, y1) in pixels,
    normally the ground-truth landmark box (as for the network here).
    """
    layout = layout or load_uv_layout()
    dense = layout.canonical_vertices  # (43867, 3), image-like frame: y down, z to the camera
    canonical_map = np.zeros((256 * 256, 3))
    canonical_map[layout.face_indices] = dense
    # read like the network's maps (the landmarks' bilinear neighbours are all face pixels)
    landmarks = read_landmarks(canonical_map.reshape(256, 256, 3), layout)
    x0, y0, x1, y1 = (float(v) for v in bbox)
    lx0, ly0 = landmarks[:, :2].min(axis=0)
    lx1, ly1 = landmarks[:, :2].max(axis=0)
    sx, sy = (x1 - x0) / (lx1 - lx0), (y1 - y0) / (ly1 - ly0)
    scale = np.array([sx, sy, math.sqrt(abs(sx * sy))])
    offset = np.array([x0 - lx0 * sx, y0 - ly0 * sy, -landmarks[:, 2].mean() * scale[2]])
    return Prediction(landmarks=landmarks * scale + offset, dense=dense * scale + offset)


class MeanFacePredictor:
    def __init__(self, layout: UVLayout | None = None) -> None:
        self.layout = layout or load_uv_layout()

    def __call__(self, image: np.ndarray, bbox: tuple[float, float, float, float]) -> Prediction:
        return mean_face_prediction(bbox, self.layout)


def load_predictor_model(path: str | os.PathLike, device: str = "auto"):
    """A network from a weights file (.safetensors) or a training checkpoint (.pt)."""
    path = Path(path)
    if path.suffix == ".pt":
        from engine.weights import resolve_device

        from .checkpoints import model_from_checkpoint

        return model_from_checkpoint(path, resolve_device(device))
    from engine.weights import load_model

    return load_model(path, device=device)


# ----------------------------------------------------------------------------- test data

def list_aflw2000(folder: str | os.PathLike) -> list[Path]:
    """The images of an AFLW2000-3D-style folder (``NAME.jpg`` + ``NAME.mat``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"AFLW2000-3D folder '{folder}' does not exist")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetError(f"no images in '{folder}' (expected NAME.jpg + NAME.mat with pt3d_68 "
                           f"and Pose_Para, as in AFLW2000-3D)")
    return images


def read_aflw2000_annotation(mat_path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """(68, 3) landmarks ``pt3d_68`` and the yaw in degrees (``Pose_Para[0, 1]`` is radians)."""
    import scipy.io

    mat_path = Path(mat_path)
    if not mat_path.is_file():
        raise DatasetError(f"annotation '{mat_path}' not found (each image needs NAME.mat beside it)")
    try:
        data = scipy.io.loadmat(str(mat_path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for bad files
        raise DatasetError(f"'{mat_path}' is not a readable .mat file "
                           f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                           ) from None
    for key in ("pt3d_68", "Pose_Para"):
        if key not in data:
            raise DatasetError(f"'{mat_path}' has no '{key}' (an AFLW2000-3D annotation has "
                               f"pt3d_68 (3, 68) and Pose_Para (1, 7))")
    points = np.asarray(data["pt3d_68"], dtype=np.float64)
    pose = np.asarray(data["Pose_Para"], dtype=np.float64).reshape(-1)
    if points.shape != (3, NUM_LANDMARKS) or not np.all(np.isfinite(points)):
        raise DatasetError(f"'{mat_path}': pt3d_68 is {points.shape}, expected finite (3, 68)")
    if pose.size != 7 or not np.all(np.isfinite(pose)):
        raise DatasetError(f"'{mat_path}': Pose_Para has {pose.size} values, expected (1, 7)")
    return points.T.copy(), float(np.degrees(pose[1]))


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"'{path}' is not a readable image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def aflw2000_samples(folder: str | os.PathLike, limit: int | None = None) -> Iterator[EvalSample]:
    """Test faces of an AFLW2000-3D-style folder; a missing or bad .mat raises DatasetError."""
    images = list_aflw2000(folder)[:limit]
    for image_path in images:  # check every annotation first: fail before an hour of work
        read_aflw2000_annotation(image_path.with_suffix(".mat"))
    for image_path in images:
        landmarks, yaw = read_aflw2000_annotation(image_path.with_suffix(".mat"))
        yield EvalSample(image_path.stem, _read_rgb(image_path), landmarks, yaw,
                         pose_deg=read_aflw2000_pose(image_path.with_suffix(".mat")))


def read_aflw2000_pose(mat_path: str | os.PathLike) -> tuple[float, float, float]:
    """The ground-truth head pose of an AFLW2000-3D annotation in the engine's convention:
    (yaw, pitch, roll) degrees from ``Pose_Para`` (see ``morphable_model.pose_from_300wlp``)."""
    import scipy.io

    from .morphable_model import pose_from_300wlp

    pose = np.asarray(scipy.io.loadmat(str(mat_path))["Pose_Para"], dtype=np.float64).reshape(-1)
    return pose_from_300wlp(*pose[:3])


def photo_samples(folder: str | os.PathLike) -> Iterator[EvalSample]:
    """Photos with 2D 68-point annotations (iBUG ``.pts`` or menpo ``.ljson`` beside each image).

    Only x and y are known: z is NaN (so no 3D metric is computed) and so is the yaw.
    """
    from engine.image_io import load_image

    from .annotations import annotated_photos

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"photo folder '{folder}' does not exist")
    pairs = annotated_photos(folder)
    if not pairs:
        raise DatasetError(f"no annotated photos in '{folder}' (expected NAME.jpg/.png with "
                           f"NAME.pts or NAME.ljson beside it)")
    for path, points in pairs:
        landmarks = np.concatenate([points, np.full((len(points), 1), np.nan)], axis=1)
        yield EvalSample(path.stem, load_image(path), landmarks, float("nan"))


def synthetic_samples(count: int, base_seed: int = EVAL_BASE_SEED, synthetic_config: dict | None = None,
                      layout: UVLayout | None = None) -> Iterator[EvalSample]:
    """Held-out synthetic faces (seeds base_seed..base_seed+count-1) with dense ground truth."""
    from .datasets import SyntheticDataset

    if count <= 0:
        raise DatasetError(f"the synthetic test set needs a positive count, got {count}")
    layout = layout or load_uv_layout()
    dataset = SyntheticDataset(count, base_seed, synthetic_config, augment_config=None, skip_bad=False)
    for index in range(count):
        sample = dataset.sample(index)
        flat = np.asarray(sample.position_map, dtype=np.float64).reshape(-1, 3)
        landmarks = np.asarray(sample.landmarks, dtype=np.float64)
        yaw = float(sample.params.get("yaw", 0.0)) if getattr(sample, "params", None) else 0.0
        params = getattr(sample, "params", None) or {}
        pose = tuple(float(params[k]) for k in ("yaw", "pitch", "roll")) if "yaw" in params else None
        yield EvalSample(f"synthetic_{base_seed + index}", sample.image, landmarks, yaw,
                         dense=flat[layout.face_indices],
                         vertices=sample_bilinear(np.asarray(sample.position_map, np.float64),
                                                  layout.bfm_map_pixels),
                         pose_deg=pose)


def check_seeds_disjoint(provenance: dict, base_seed: int, count: int) -> None:
    """Raise if the synthetic test seeds overlap the training seeds recorded in the weights."""
    seeds = (provenance or {}).get("data", {}).get("seeds")
    if not seeds or len(seeds) != 2:
        return
    low, high = int(seeds[0]), int(seeds[1])
    if base_seed <= high and low <= base_seed + count - 1:
        raise DatasetError(f"synthetic test seeds {base_seed}..{base_seed + count - 1} overlap the "
                           f"training seeds {low}..{high}; choose another --synthetic-seed")


# ----------------------------------------------------------------------------- evaluation

@dataclass
class EvalReport:
    dataset: str
    records: list[dict] = field(default_factory=list)   # one per (sample, predictor)
    predictors: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
    """Fold share and longest/median edge of a BFM-topology mesh (see training.metrics)."""
    edges, pairs = _interior_edges(layout)
    return {f"{prefix}fold_share": metrics.fold_share(vertices, pairs, layout.bfm_triangles),
            f"{prefix}edge_ratio": metrics.edge_length_ratio(vertices, edges)}


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


def evaluate_samples(samples: Iterable[EvalSample], predictors: dict[str, Predictor],
                     dataset: str = "", progress: bool = False, total: int | None = None,
                     icp_iterations: int = 3, layout: UVLayout | None = None) -> EvalReport:
    """Score every predictor on every sample (face box = tight GT landmark box)."""
    from tqdm import tqdm

    layout = layout or load_uv_layout()
    report = EvalReport(dataset=dataset, predictors=list(predictors))
    start = time.time()
    for sample in tqdm(samples, total=total, desc=f"eval {dataset}", unit="face", disable=not progress):
        bbox = landmark_box(sample.landmarks)
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


def plot_ced(report: EvalReport, metric: str, path: Path) -> bool:
    """CED curves of every predictor for one metric, as a PNG. False without data or matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    curves = {name: report.errors(name, metric) for name in report.predictors}
    curves = {name: errors for name, errors in curves.items() if errors.size}
    if not curves:
        return False
    first = next(iter(curves.values()))
    limit = max(0.1, float(np.percentile(first, 95)) * 1.1)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for name, errors in curves.items():
        thresholds, fractions = metrics.ced_curve(errors, max_threshold=limit, steps=201)
        ax.plot(thresholds * 100, fractions * 100,
                label=f"{name} (mean {errors.mean() * 100:.2f}%)")
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("faces with error <= x (%)")
    ax.set_xlim(0, limit * 100)
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"{report.dataset}: {METRIC_TITLES[metric]}", fontsize=9)
    fig.tight_layout()
    atomic_write_with(path, lambda temp: fig.savefig(temp, format="png"))
    plt.close(fig)
    return True


def write_report(report: EvalReport, out_dir: str | os.PathLike, extra: dict | None = None) -> dict:
    """``results.json``, ``per_face.csv`` and ``ced_<metric>.png`` under ``out_dir/<dataset>``."""
    folder = Path(out_dir) / report.dataset
    folder.mkdir(parents=True, exist_ok=True)
    results = {"dataset": report.dataset, "faces": len({r["name"] for r in report.records}),
               "seconds": round(report.seconds, 2),
               "units": "NME as a fraction (x100 for %); see training/metrics.py for definitions",
               "face_box": "tight box of the ground-truth 2D landmarks",
               "normalisation": {"nme2d": "sqrt(w*h) of GT 2D landmark box",
                                 "nme3d": "sqrt(w*h) of GT 2D landmark box (mean z offset removed)",
                                 "dense_nme": "sqrt(w*h) of GT 2D landmark box (mean z offset removed)",
                                 "reconstruction_nme": "GT outer interocular distance (3D); "
                                                       "symmetric NN distance after similarity "
                                                       "alignment + rigid ICP"},
               **(extra or {}), "results": report.summary(), "plots": []}
    for metric in METRICS:
        path = folder / f"ced_{metric}.png"
        if plot_ced(report, metric, path):
            results["plots"].append(path.name)
    buffer = io.StringIO()
    columns = ["name", "predictor", "yaw_deg", "bbox_size", *METRICS]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(report.records)
    atomic_write_text(folder / "per_face.csv", buffer.getvalue())
    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    return results


def _format_value(metric: str, value: float) -> str:
    if metric in ("edge_ratio", "gt_edge_ratio"):
        return f"{value:.1f}"
    if metric == "pose_mae":
        return f"{value:.2f} deg"
    return f"{value * 100:.2f}%"


def format_summary(results: dict) -> str:
    """A short text table of a results.json dict (NME and fold shares in %)."""
    lines = [f"{results['dataset']}: {results['faces']} faces"]
    for name, entry in results["results"].items():
        for metric, summary in entry.items():
            if summary["balanced_mean"] is None:  # no yaw known (2D photos): the plain mean
                lines.append(f"  {name:>10} {metric:<19} mean {_format_value(metric, summary['mean']):>9}"
                             f"  (per face in per_face.csv)")
            else:
                buckets = "  ".join(f"{b} {_format_value(metric, v)}" if v is not None else f"{b} -"
                                    for b, v in summary["buckets"].items())
                lines.append(f"  {name:>10} {metric:<19} mean "
                             f"{_format_value(metric, summary['balanced_mean']):>9}  ({buckets})")
            if "per_angle" in summary:
                lines.append("  " + " " * 31 + "  ".join(f"{angle} {value:.2f} deg" for angle, value
                                                        in summary["per_angle"].items()))
    return "\n".join(lines)


def evaluate(weights: str | os.PathLike | None, out_dir: str | os.PathLike,
             aflw2000: str | os.PathLike | None = None, synthetic: int = 0,
             photos: str | os.PathLike | None = None,
             synthetic_seed: int = EVAL_BASE_SEED, synthetic_config: dict | None = None,
             device: str = "auto", baseline: bool = True, limit: int | None = None,
             progress: bool = True, two_pass: bool = True, flip: bool = False) -> list[dict]:
    """Evaluate a weights file (and/or the mean-face baseline) on the requested test sets."""
    if not aflw2000 and not synthetic and not photos:
        raise DatasetError("nothing to evaluate: pass an AFLW2000-3D folder, a photo folder "
                           "and/or a synthetic count")
    layout = load_uv_layout()
    predictors: dict[str, Predictor] = {}
    extra: dict = {}
    provenance: dict = {}
    if weights is not None:
        model = load_predictor_model(weights, device)
        predictors["model"] = NetworkPredictor(model, layout=layout, two_pass=two_pass, flip=flip)
        info = getattr(model, "weights_info", None)
        provenance = info.provenance if info is not None else {}
        extra["weights"] = str(weights)
        from engine.models import model_spec

        extra["model_config"] = model_spec(model.config)
        extra["two_pass"], extra["flip"] = two_pass, flip
    if baseline:
        predictors["mean_face"] = MeanFacePredictor(layout)
    if not predictors:
        raise DatasetError("nothing to evaluate: give a weights file or keep the baseline")
    out = []
    if aflw2000:
        images = list_aflw2000(aflw2000)[:limit]
        report = evaluate_samples(aflw2000_samples(aflw2000, limit), predictors, "aflw2000",
                                  progress, total=len(images), layout=layout)
        out.append(write_report(report, out_dir, {**extra, "source": str(aflw2000)}))
    if photos:
        samples = list(photo_samples(photos))
        report = evaluate_samples(samples, predictors, "photos", progress, total=len(samples),
                                  layout=layout)
        out.append(write_report(report, out_dir, {**extra, "source": str(photos)}))
    if synthetic:
        check_seeds_disjoint(provenance, synthetic_seed, synthetic)
        report = evaluate_samples(synthetic_samples(synthetic, synthetic_seed, synthetic_config, layout),
                                  predictors, "synthetic", progress, total=synthetic, layout=layout)
        out.append(write_report(report, out_dir, {**extra, "seeds": [synthetic_seed,
                                                                      synthetic_seed + synthetic - 1]}))
    return out
