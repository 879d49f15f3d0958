"""Reading 68-point face annotations: iBUG ``.pts`` and menpo ``.ljson`` files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.errors import PRNetError
from engine.image_io import IMAGE_SUFFIXES


class AnnotationError(PRNetError):
    """An annotation file is missing or malformed."""


def read_pts(path: str | Path) -> np.ndarray:
    """iBUG ``.pts`` -> (68, 2) x, y in 0-based pixel coordinates (the files are 1-based)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == "{") + 1
        end = next(i for i, line in enumerate(lines) if line.strip() == "}")
        points = np.array([[float(v) for v in line.split()] for line in lines[start:end]])
    except (OSError, StopIteration, ValueError) as exc:
        raise AnnotationError(f"{path}: not a readable iBUG .pts file ({exc})") from None
    if points.shape != (68, 2):
        raise AnnotationError(f"{path}: expected 68 points, found {points.shape}")
    return points - 1.0


def read_ljson(path: str | Path) -> np.ndarray:
    """menpo ``.ljson`` (points stored as [row, column]) -> (68, 2) x, y."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        groups = data["groups"]
        group = next(iter(groups.values()))
        points = np.array(group["landmarks"]["points"], dtype=np.float64)
    except (OSError, KeyError, StopIteration, ValueError, TypeError) as exc:
        raise AnnotationError(f"{path}: not a readable menpo .ljson file ({exc})") from None
    if points.shape != (68, 2):
        raise AnnotationError(f"{path}: expected 68 points, found {points.shape}")
    return points[:, ::-1].copy()


def find_annotation(image_path: str | Path) -> Path | None:
    image_path = Path(image_path)
    for suffix in (".pts", ".ljson"):
        candidate = image_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_annotation(path: str | Path) -> np.ndarray:
    path = Path(path)
    return read_ljson(path) if path.suffix == ".ljson" else read_pts(path)


def annotated_photos(folder: str | Path) -> list[tuple[Path, np.ndarray]]:
    """Every image in ``folder`` that has a 68-point annotation beside it, sorted by name."""
    pairs = []
    for image in sorted(Path(folder).iterdir()):
        if image.suffix.lower() in IMAGE_SUFFIXES:
            annotation = find_annotation(image)
            if annotation is not None:
                pairs.append((image, read_annotation(annotation)))
    return pairs
