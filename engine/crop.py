"""PRNet's face crop: a similarity transform from the photo to the 256x256 network input.

As in the official code: the crop is centred on the middle of the face box, its
side is 1.6 x the mean of the box's width and height, and its corners map to
pixel centres 0 and 255. Positions predicted in the crop map back through the
inverse transform, with z divided by the scale.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 256
BOX_SCALE = 1.6


def crop_matrix(bbox: tuple[float, float, float, float], size: int = CROP_SIZE,
                box_scale: float = BOX_SCALE) -> np.ndarray:
    """3x3 similarity matrix taking input pixels (x, y, 1) to crop pixels."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    side = box_scale * ((x1 - x0) + (y1 - y0)) / 2.0
    if not np.isfinite(side) or side <= 0:
        raise ValueError(f"face box {bbox} is empty")
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    scale = (size - 1) / side
    return np.array([[scale, 0.0, (side / 2.0 - cx) * scale],
                     [0.0, scale, (side / 2.0 - cy) * scale],
                     [0.0, 0.0, 1.0]])


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Resample ``image`` (H, W, C) into the crop with bilinear interpolation, zeros outside."""
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    source = image
    # Shrinking by much more than 2x aliases; pre-blur the source like an area filter would.
    if scale < 0.5:
        sigma = 0.5 / scale * 0.6
        source = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return cv2.warpAffine(source, matrix[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def crop_to_image(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-frame points (..., 3) -> input-image frame; z is divided by the crop scale."""
    points = np.asarray(points, dtype=np.float64)
    inverse = np.linalg.inv(matrix)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    xy = points[..., :2] @ inverse[:2, :2].T + inverse[:2, 2]
    return np.concatenate([xy, points[..., 2:3] / scale], axis=-1)


def image_to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Input-image points (..., 3) -> crop frame; z is multiplied by the crop scale."""
    points = np.asarray(points, dtype=np.float64)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    xy = points[..., :2] @ matrix[:2, :2].T + matrix[:2, 2]
    return np.concatenate([xy, points[..., 2:3] * scale], axis=-1)


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The tight (x0, y0, x1, y1) box of 2D landmarks: the box convention of 300W-LP/AFLW2000-3D."""
    xy = np.asarray(landmarks)[:, :2]
    return (float(xy[:, 0].min()), float(xy[:, 1].min()),
            float(xy[:, 0].max()), float(xy[:, 1].max()))
