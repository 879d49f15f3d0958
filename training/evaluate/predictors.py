"""Predictors: a face image and box in, landmarks, dense points and mesh vertices out.

The network (:class:`NetworkPredictor`, through :func:`engine.predict.predict_position_map`)
and the baseline "BFM mean face placed by the face box" (:class:`MeanFacePredictor`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.crop import crop_to_image
from engine.predict import predict_position_map
from engine.uv_layout import (UVLayout, load_uv_layout, read_landmarks, read_landmarks_in_image,
                              sample_bilinear)


@dataclass(frozen=True)
class Prediction:
    landmarks: np.ndarray                 # (68, 3) in the image frame
    dense: np.ndarray                     # (43867, 3)
    vertices: np.ndarray | None = None    # (38365, 3) BFM-topology mesh vertices


Predictor = Callable[[np.ndarray, tuple[float, float, float, float]], Prediction]


def read_position_map(position_map: np.ndarray, layout: UVLayout,
                      landmarks: np.ndarray | None = None) -> Prediction:
    """Landmarks, dense points and mesh vertices of a map (``landmarks`` when given: the
    reconstructor reads them from the network's unsmoothed map)."""
    position_map = np.asarray(position_map, dtype=np.float64)
    landmarks = read_landmarks(position_map, layout) if landmarks is None else landmarks
    flat = position_map.reshape(-1, 3)
    return Prediction(landmarks=landmarks, dense=flat[layout.face_indices],
                      vertices=sample_bilinear(position_map, layout.bfm_map_pixels))


class NetworkPredictor:
    """The engine's prediction step (:func:`engine.predict.predict_position_map`) on a face box."""

    def __init__(self, model, layout: UVLayout | None = None, two_pass: bool = False,
                 flip: bool = False, smooth: bool = True, upright: bool = True) -> None:
        self.model = model.eval()
        self.layout = layout or load_uv_layout()
        self.two_pass = two_pass
        self.flip = flip
        self.smooth = smooth
        self.upright = upright

    def __call__(self, image: np.ndarray, bbox: tuple[float, float, float, float]) -> Prediction:
        prediction = predict_position_map(self.model, image, bbox, self.layout,
                                          two_pass=self.two_pass, flip=self.flip,
                                          smooth=self.smooth, upright=self.upright)
        landmarks = read_landmarks_in_image(prediction.network_map, self.layout, prediction.matrix)
        return read_position_map(crop_to_image(prediction.crop_map, prediction.matrix),
                                 self.layout, landmarks=landmarks)


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

        from ..checkpoints import model_from_checkpoint

        return model_from_checkpoint(path, resolve_device(device))
    from engine.weights import load_model

    return load_model(path, device=device)
