"""Crop -> network -> UV position map: the one prediction step of the reconstructor and the evaluator.

:func:`predict_position_map` takes a photo and a face box and returns PRNet's 256x256 UV map
in the crop frame, with the crop it was predicted in. Two refinements, both measured in
``docs/model_selection.md``:

- **Two-pass crop** (on by default). Networks are trained on crops of the tight box of the
  68 landmarks; a detector's box is not that box. After the first prediction, the face is
  cropped again from the box of the predicted landmarks and predicted again.
  The second crop is also turned upright (``upright``, on with two-pass): the head's roll is the
  angle of the line through the two predicted eye centres, and the second crop is rotated by
  it, so a tilted head reaches the network as an upright one.
- **Smoothing of low-resolution maps** (on by default). A network whose map is coarser than
  256x256 (the compact default: 32x32) is upsampled bilinearly, which leaves a crease at every
  coarse texel edge; :class:`engine.uv_resample.UVMapSmoother` rounds them off (a local plane
  fit with Gaussian weights of half a coarse texel, over the texels the loss trains). The
  landmarks are read from the network's own map (``network_map``): smoothing would move them
  off its prediction, e.g. on the jaw line of a profile (measured: +0.2 points of photo NME).
  Full-resolution maps are untouched.
- **Horizontal-flip averaging** (off by default). The mirrored crop is predicted too, and its
  map mirrored back: PRNet's UV layout is left-right symmetric about its middle column
  (checked on the mean face by ``tests/test_predict.py``), so mirroring a map is a flip of
  its columns plus x -> (S - 1) - x in the crop. The two maps are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .crop import crop_matrix, landmark_box, upright_crop_matrix, warp_to_crop
from .uv_layout import UVLayout, read_landmarks_in_image
from .uv_resample import UV_MAP_SIZE, UVMapSmoother, smoothing_support

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class PositionMapPrediction:
    """A predicted UV map in the crop frame of ``matrix`` (input pixels -> crop pixels)."""

    crop_map: np.ndarray          # (256, 256, 3) float32, crop pixels (smoothed, if asked)
    network_map: np.ndarray       # the same before smoothing: read the landmarks from it
    matrix: np.ndarray            # (3, 3) of the crop the final pass used
    bbox: BBox                    # the box that crop was made from
    first_bbox: BBox              # the box given by the caller


def mirror_uv_map(crop_map: np.ndarray, crop_size: int) -> np.ndarray:
    """The map of the mirrored face: UV columns flipped, x -> (crop_size - 1) - x.

    ``crop_map`` is (..., 256, 256, 3) in crop pixels. Applying it twice is the identity.
    """
    mirrored = np.array(crop_map[..., :, ::-1, :], dtype=np.float32, copy=True)
    mirrored[..., 0] = (crop_size - 1) - mirrored[..., 0]
    return mirrored


def model_input_size(model: torch.nn.Module) -> int:
    return int(model.config.input_size)


@torch.inference_mode()
def run_network(model: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB crops -> (N, 256, 256, 3) float32 UV maps in crop pixels."""
    device = next(model.parameters()).device
    batch = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    return model.uv_map(batch).permute(0, 2, 3, 1).float().cpu().numpy()


_SMOOTHERS: dict[tuple[int, int], tuple[UVLayout, UVMapSmoother]] = {}


def map_smoother(model: torch.nn.Module, layout: UVLayout) -> UVMapSmoother | None:
    """The smoother of a network's coarse output (sigma: half a coarse texel), else None."""
    size = int(getattr(model.config, "output_size", UV_MAP_SIZE))
    if size >= UV_MAP_SIZE:
        return None
    key = (id(layout), size)
    if key not in _SMOOTHERS:  # the layout is kept with it, so its id is not reused
        support = smoothing_support(layout.face_mask, layout.read_pixels, size)
        _SMOOTHERS[key] = (layout, UVMapSmoother(support, sigma=0.5 * UV_MAP_SIZE / size))
    return _SMOOTHERS[key][1]


def _predict_in_crop(model: torch.nn.Module, image: np.ndarray, matrix: np.ndarray, flip: bool
                     ) -> tuple[np.ndarray, np.ndarray]:
    size = model_input_size(model)
    crop = warp_to_crop(image, matrix, size=size)
    if not flip:
        return run_network(model, crop[None])[0], matrix
    maps = run_network(model, np.stack([crop, crop[:, ::-1]]))
    return 0.5 * (maps[0] + mirror_uv_map(maps[1], size)), matrix


# Below this eye distance (a fraction of the landmark box) the eye line says little about the
# roll (a profile's eyes nearly overlap), and the second crop stays axis-aligned. So it does past
# MAX_ROLL: eyes in swapped order are a failed first pass, not a head upside down.
MIN_EYE_DISTANCE = 0.15
MAX_ROLL = 90.0


def eye_line_roll(landmarks: np.ndarray) -> float | None:
    """The head's roll in degrees from 68 landmarks (image frame, y down): the angle of the
    line from the centre of eye 36-41 to that of eye 42-47; None when the eyes nearly overlap
    or the angle is past ``MAX_ROLL``.

    Yaw and pitch keep both eyes at one height, so the line's angle is the roll.
    """
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    line = points[42:48].mean(axis=0) - points[36:42].mean(axis=0)
    x0, y0, x1, y1 = landmark_box(points)
    if not np.all(np.isfinite(line)) or np.hypot(*line) < MIN_EYE_DISTANCE * max(x1 - x0, y1 - y0):
        return None
    roll = float(np.degrees(np.arctan2(line[1], line[0])))
    return roll if abs(roll) <= MAX_ROLL else None


def plausible_refinement(first: BBox, refined: BBox) -> bool:
    """Whether a landmark box may replace the first box: finite, non-empty, of a similar size
    (0.5x to 2x) and centred within one box size (a failed first pass keeps the given box)."""
    if not np.all(np.isfinite(refined)) or refined[2] <= refined[0] or refined[3] <= refined[1]:
        return False
    size = lambda b: ((b[2] - b[0]) + (b[3] - b[1])) / 2.0  # noqa: E731
    ratio = size(refined) / max(size(first), 1e-9)
    shift = np.hypot((refined[0] + refined[2] - first[0] - first[2]) / 2.0,
                     (refined[1] + refined[3] - first[1] - first[3]) / 2.0)
    return 0.5 <= ratio <= 2.0 and shift <= size(first)


def predict_position_map(model: torch.nn.Module, image: np.ndarray, bbox: Sequence[float],
                         layout: UVLayout, two_pass: bool = True, flip: bool = False,
                         smooth: bool = True, upright: bool = True) -> PositionMapPrediction:
    """The UV position map of the face in ``bbox`` (x0, y0, x1, y1) of an (H, W, 3) uint8 image.

    ``upright`` (with ``two_pass``) rotates the second crop by the first pass's eye-line roll.
    """
    first = tuple(float(v) for v in bbox)
    size = model_input_size(model)
    crop_map, matrix = _predict_in_crop(model, image, crop_matrix(first, size=size), flip)
    used = first
    if two_pass:
        landmarks = read_landmarks_in_image(crop_map, layout, matrix)
        refined = landmark_box(landmarks)
        if plausible_refinement(first, refined):
            roll = eye_line_roll(landmarks) if upright else None
            second = (crop_matrix(refined, size=size) if roll is None
                      else upright_crop_matrix(landmarks, roll, size=size))
            crop_map, matrix = _predict_in_crop(model, image, second, flip)
            used = refined
    smoother = map_smoother(model, layout) if smooth else None
    return PositionMapPrediction(crop_map=crop_map if smoother is None else smoother(crop_map),
                                 network_map=crop_map, matrix=matrix, bbox=used, first_bbox=first)
