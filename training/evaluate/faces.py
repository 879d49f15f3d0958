"""The test faces: AFLW2000-3D-style folders, annotated photos and held-out synthetic faces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.image_io import IMAGE_SUFFIXES
from engine.uv_layout import NUM_LANDMARKS, UVLayout, load_uv_layout, sample_bilinear

from ..datasets import DatasetError

# Synthetic test faces use seeds from here on; training seeds start at 0 by default.
EVAL_BASE_SEED = 1_000_000_000


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

    from ..morphable_model import pose_from_300wlp

    pose = np.asarray(scipy.io.loadmat(str(mat_path))["Pose_Para"], dtype=np.float64).reshape(-1)
    return pose_from_300wlp(*pose[:3])


def photo_samples(folder: str | os.PathLike) -> Iterator[EvalSample]:
    """Photos with 2D 68-point annotations (iBUG ``.pts`` or menpo ``.ljson`` beside each image).

    Only x and y are known: z is NaN (so no 3D metric is computed) and so is the yaw.
    """
    from engine.image_io import load_image

    from ..annotations import annotated_photos

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
    from ..datasets import SyntheticDataset

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
    data = (provenance or {}).get("data", {})
    for part in data.get("parts", [data]):
        seeds = part.get("seeds")
        if not seeds or len(seeds) != 2:
            continue
        low, high = int(seeds[0]), int(seeds[1])
        if base_seed <= high and low <= base_seed + count - 1:
            raise DatasetError(f"synthetic test seeds {base_seed}..{base_seed + count - 1} overlap "
                               f"the training seeds {low}..{high}; choose another --synthetic-seed")
