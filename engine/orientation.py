"""Quarter-turn rotations of a photo (phone pictures without EXIF orientation) and the exact
maps between the frames, in pixel-centre coordinates (pixel (i, j) is the point x=j, y=i).

A rotation is in degrees counter-clockwise as seen on screen, one of ``ROTATIONS``: the image
rotated by ``r`` is ``np.rot90(image, r // 90)``.
"""

from __future__ import annotations

import numpy as np

ROTATIONS = (0, 90, -90, 180)
BBox = tuple[float, float, float, float]


def _quarter_turns(rotation: int) -> int:
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation {rotation} must be one of {ROTATIONS}")
    return (rotation // 90) % 4


def rotation_matrix(rotation: int, width: int, height: int) -> np.ndarray:
    """3x3 map of the points of a ``width`` x ``height`` image into the image rotated by
    ``rotation`` degrees (pixel centres to pixel centres, so it is exact for ``np.rot90``)."""
    right, bottom = width - 1.0, height - 1.0
    return {
        0: np.eye(3),
        1: np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, right], [0.0, 0.0, 1.0]]),        # (y, W-1-x)
        2: np.array([[-1.0, 0.0, right], [0.0, -1.0, bottom], [0.0, 0.0, 1.0]]),    # (W-1-x, H-1-y)
        3: np.array([[0.0, -1.0, bottom], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),       # (H-1-y, x)
    }[_quarter_turns(rotation)]


def rotate_image(image: np.ndarray, rotation: int) -> np.ndarray:
    """The image rotated by ``rotation`` degrees counter-clockwise (a contiguous copy)."""
    k = _quarter_turns(rotation)
    return image if k == 0 else np.ascontiguousarray(np.rot90(image, k))


def transform_box(box: BBox, matrix: np.ndarray) -> BBox:
    """The axis-aligned box around a box's corners mapped by a 3x3 matrix (exact for quarter
    turns: the rotated box is axis-aligned again)."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x0, y1, 1.0], [x1, y1, 1.0]]) @ matrix[:2].T
    low, high = corners.min(axis=0), corners.max(axis=0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def upright_window(image: np.ndarray, box: BBox, rotation: int, margin: float = 3.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` within ``margin`` box sizes of the box centre, rotated so the face is
    upright, and the 3x3 map from ``image`` points to the window's points.

    Rotating only this window keeps memory flat on large photos; the margin covers PRNet's
    crop (1.6 box sizes) even after the two-pass crop moves or grows the box.
    """
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    reach = margin * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left = int(np.clip(np.floor(cx - reach), 0, width - 1))
    top = int(np.clip(np.floor(cy - reach), 0, height - 1))
    right = int(np.clip(np.ceil(cx + reach), left + 1, width))
    bottom = int(np.clip(np.ceil(cy + reach), top + 1, height))
    window = image[top:bottom, left:right]
    shift = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top], [0.0, 0.0, 1.0]])
    turn = rotation_matrix(rotation, right - left, bottom - top)
    return rotate_image(window, rotation), turn @ shift
