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


# Shrinking by more than 2x aliases: the source is low-passed first with a Gaussian of sigma
# ANTIALIAS_SIGMA / scale (source pixels), as an area filter would. Past AREA_REDUCE_BELOW
# (8x) an integer area reduction does most of that first, so the blur stays small.
ANTIALIAS_SIGMA = 0.3
AREA_REDUCE_BELOW = 0.25


def _blur_margin(sigma: float) -> int:
    """Pixels beyond the crop that a Gaussian of ``sigma`` (OpenCV's 8-bit kernel) and the
    bilinear warp read."""
    return int(np.ceil(3.0 * sigma)) + 2 if sigma > 0 else 2


def _needed_region(matrix: np.ndarray, size: int, margin: float, width: int, height: int
                   ) -> tuple[int, int, int, int]:
    """The photo's pixel window (x0, y0, x1, y1) under the crop, grown by ``margin``, clipped."""
    inverse = np.linalg.inv(matrix)
    corners = np.array([[-1.0, -1.0], [size, -1.0], [-1.0, size], [size, size]])
    source = corners @ inverse[:2, :2].T + inverse[:2, 2]
    x0 = int(np.clip(np.floor(source[:, 0].min() - margin), 0, width))
    y0 = int(np.clip(np.floor(source[:, 1].min() - margin), 0, height))
    x1 = int(np.clip(np.ceil(source[:, 0].max() + margin) + 1, 0, width))
    y1 = int(np.clip(np.ceil(source[:, 1].max() + margin) + 1, 0, height))
    return x0, y0, x1, y1


def _whole_cells(start: int, stop: int, factor: int, limit: int) -> tuple[int, int]:
    """Grow (or, at the photo's edge, trim) [start, stop) to whole cells of ``factor`` pixels."""
    cells = -(-(stop - start) // factor)
    if start + cells * factor > limit:
        cells = (limit - start) // factor
    return start, start + cells * factor


def warp_to_crop(image: np.ndarray, matrix: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Resample ``image`` (H, W, C) into the crop with bilinear interpolation, zeros outside.

    Only the photo's region under the crop is read: it is cut out (a view) with the margin the
    filters need, low-passed when the crop shrinks it, and warped once. Up to 8x shrinking
    this equals blurring the whole photo first; memory and time follow the crop, not the photo.
    """
    height, width = image.shape[:2]
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    factor = max(1, int(AREA_REDUCE_BELOW / scale)) if scale > 0 else 1
    sigma = ANTIALIAS_SIGMA / scale if scale < 0.5 else 0.0
    x0, y0, x1, y1 = _needed_region(matrix, size, _blur_margin(sigma), width, height)
    if factor > 1 and min(x1 - x0, y1 - y0) >= factor:
        # Area-average factor x factor cells; the Gaussian then supplies the remaining variance.
        residual = max(sigma ** 2 - (factor ** 2 - 1) / 12.0, 0.0) ** 0.5 / factor
        margin = factor * _blur_margin(residual)
        x0, y0, x1, y1 = _needed_region(matrix, size, margin, width, height)
        x0, x1 = _whole_cells(x0, x1, factor, width)
        y0, y1 = _whole_cells(y0, y1, factor, height)
        region = cv2.resize(image[y0:y1, x0:x1], ((x1 - x0) // factor, (y1 - y0) // factor),
                            interpolation=cv2.INTER_AREA)
        sigma, offset = residual, (factor - 1) / 2.0
    else:
        factor, offset, region = 1, 0.0, image[y0:y1, x0:x1]
    channels = image.shape[2:] if image.ndim == 3 else ()
    if region.size == 0:
        return np.zeros((size, size, *channels), dtype=image.dtype)
    if sigma > 0:
        region = cv2.GaussianBlur(region, (0, 0), sigmaX=sigma, sigmaY=sigma)
    # Region pixel (u, v) is photo pixel (x0 + factor * u + offset, y0 + factor * v + offset).
    to_photo = np.array([[factor, 0.0, x0 + offset], [0.0, factor, y0 + offset], [0.0, 0.0, 1.0]])
    return cv2.warpAffine(region, (matrix @ to_photo)[:2], (size, size), flags=cv2.INTER_LINEAR,
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


def rotation_about(centre: tuple[float, float], angle_deg: float) -> np.ndarray:
    """3x3 rotation by ``angle_deg`` about ``centre`` in the image frame (y down: clockwise on screen)."""
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    linear = np.array([[cos, -sin], [sin, cos]])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = np.asarray(centre, dtype=np.float64) - linear @ np.asarray(centre, np.float64)
    return matrix


def upright_crop_matrix(landmarks: np.ndarray, roll_deg: float, size: int = CROP_SIZE
                        ) -> np.ndarray:
    """The crop of the landmarks' box as if the head were turned upright by ``-roll_deg``.

    The landmarks are rotated by ``-roll_deg`` about their box centre, their tight box is taken
    there, and the crop of that box follows the rotation: the network sees an upright face, and
    positions map back to the photo through the same (similarity) matrix.
    """
    x0, y0, x1, y1 = landmark_box(landmarks)
    upright = rotation_about(((x0 + x1) / 2.0, (y0 + y1) / 2.0), -roll_deg)
    points = np.asarray(landmarks, dtype=np.float64)[:, :2] @ upright[:2, :2].T + upright[:2, 2]
    return crop_matrix(landmark_box(points), size=size) @ upright


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """The tight (x0, y0, x1, y1) box of 2D landmarks: the box convention of 300W-LP/AFLW2000-3D."""
    xy = np.asarray(landmarks)[:, :2]
    return (float(xy[:, 0].min()), float(xy[:, 1].min()),
            float(xy[:, 0].max()), float(xy[:, 1].max()))
