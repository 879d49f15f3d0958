"""The one public entry point: photo in, :class:`ReconstructionResult` out.

    from engine import Reconstructor
    rec = Reconstructor()                      # shipped default weights, CUDA if present
    result = rec.reconstruct("face.jpg")       # largest face
    result.landmarks, result.mesh, result.pose, result.texture

The CLI (``prnet reconstruct``) and the Blender add-on are thin layers over it.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .detect import DETECTORS, Detection, choose_detector, detect_faces
from .errors import (BoxError, NoFaceError, PRNetError, SettingsError, WeightsError,
                     is_out_of_memory, out_of_memory)
from .image_io import ARRAY_NAME, as_rgb_array
from .orientation import transform_box, upright_window
from .decode import decode_position_map
from .predict import predict_position_map, run_network
from .result import ReconstructionResult
from .uv_layout import UVLayout, load_uv_layout

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "default_weights" / "prnet_default.safetensors"
TOPOLOGIES = ("bfm", "grid")
BBox = tuple[float, float, float, float]


def default_weights_path() -> Path:
    """Where the shipped default weights live (inside the installed package)."""
    return DEFAULT_WEIGHTS


# A face box may reach past the photo (a face at its edge) but not this many times its size:
# beyond that it is a mistake, and the crop would only see a blur.
MAX_BOX_TO_IMAGE = 4.0
TEXTURE_SIZES = (16, 8192)


def check_face_box(bbox: Sequence[float], width: int, height: int, name: str) -> BBox:
    """(x0, y0, x1, y1) as floats, or BoxError naming the image ``name``: the box must be four
    finite numbers, not empty, overlap the ``width`` x ``height`` image and be at most
    MAX_BOX_TO_IMAGE times its width and height."""
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4:
        raise BoxError(f"{name}: face box {bbox!r} must be 4 numbers: X0 Y0 X1 Y1")
    shown = "(" + ", ".join(f"{v:g}" for v in values) + ")"
    x0, y0, x1, y1 = values
    if not all(math.isfinite(v) for v in values):
        raise BoxError(f"{name}: face box {shown} is not finite; give 4 pixel coordinates X0 Y0 X1 Y1")
    if not (x1 > x0 and y1 > y0):
        raise BoxError(f"{name}: face box {shown} is empty: it needs X1 > X0 and Y1 > Y0")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise BoxError(f"{name}: face box {shown} lies outside the {width}x{height} image; "
                       f"give a box on the face")
    if x1 - x0 > MAX_BOX_TO_IMAGE * width or y1 - y0 > MAX_BOX_TO_IMAGE * height:
        raise BoxError(f"{name}: face box {shown} is over {MAX_BOX_TO_IMAGE:g} times the size of "
                       f"the {width}x{height} image; give a box around the face")
    return values


def _image_name(image) -> str:
    return str(image) if isinstance(image, (str, os.PathLike)) else ARRAY_NAME


@contextlib.contextmanager
def _memory_errors(name: str, size: Sequence[int] = (0, 0)) -> Iterator[None]:
    """An allocation failure anywhere in the pipeline becomes our one-line message."""
    try:
        yield
    except PRNetError:
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            raise out_of_memory(name, *size) from None
        raise


def _check_settings(weights, device, topology: str, texture_size, detector: str, assets_dir) -> int:
    """The texture size as an int, or SettingsError for the first argument of a wrong kind."""
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise SettingsError(f"weights {weights!r} must be the path of a .safetensors file "
                            f"(str or os.PathLike), or None for the shipped weights")
    if not isinstance(device, (str, torch.device)):
        raise SettingsError(f"device {device!r} must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if assets_dir is not None and not isinstance(assets_dir, (str, os.PathLike)):
        raise SettingsError(f"assets_dir {assets_dir!r} must be a folder path or None")
    if topology not in TOPOLOGIES:
        raise SettingsError(f"unknown topology {topology!r}; choose one of {TOPOLOGIES}")
    if detector not in DETECTORS:
        raise SettingsError(f"unknown detector {detector!r}; choose one of {DETECTORS}")
    try:
        size = operator.index(texture_size) if not isinstance(texture_size, bool) else None
    except TypeError:
        size = None
    low, high = TEXTURE_SIZES
    if size is None or not low <= size <= high:
        raise SettingsError(f"texture size {texture_size!r} must be a whole number between "
                            f"{low} and {high}")
    return size


def _check_face_index(face_index) -> int:
    try:
        index = operator.index(face_index) if not isinstance(face_index, bool) else -1
    except TypeError:
        index = -1
    if index < 0:
        raise SettingsError(f"face index {face_index!r} must be a whole number >= 0 "
                            f"(0: the largest face)")
    return index


class Reconstructor:
    """PRNet: detect faces, crop, regress the UV position map, and read everything from it."""

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "auto",
                 topology: str = "bfm", texture_size: int = 256, detector: str = "auto",
                 assets_dir: str | os.PathLike | None = None, two_pass: bool = True,
                 flip: bool = False, smooth: bool = True, expressions: bool = False) -> None:
        from .weights import load_model, prepare_for_inference, resolve_device

        texture_size = _check_settings(weights, device, topology, texture_size, detector, assets_dir)
        if expressions and topology != "bfm":
            raise SettingsError("expression shapes need topology='bfm' (--topology bfm)")
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        if weights is None and not path.is_file():
            raise WeightsError(f"no default weights yet ({path} is not installed); "
                               f"pass weights=PATH / --weights PATH to a .safetensors file")
        self.weights_path = path
        self.device = resolve_device(device)
        # BatchNorm folded into the convs + channels_last: ~20% faster on the CPU, same outputs.
        self.model = prepare_for_inference(load_model(path, device=self.device))
        self.input_size = int(self.model.config.input_size)
        self.topology = topology
        self.texture_size = texture_size
        self.detector = detector
        self.assets_dir = str(assets_dir) if assets_dir else None
        # Which detector "auto" means here (and why, if not FaceBoxes); an explicit detector
        # that cannot run fails now, not at the first photo.
        self.detector_choice = choose_detector(detector, self.assets_dir)
        self.layout: UVLayout = load_uv_layout(self.assets_dir)
        # Re-crop from the first prediction's landmarks (detector boxes are not landmark boxes).
        self.two_pass = bool(two_pass)
        # Average with the mirrored crop's prediction.
        self.flip = bool(flip)
        # Round off the creases of a coarse (e.g. 32x32) map's bilinear upsampling.
        self.smooth = bool(smooth)
        # ICT-FaceKit's 57 expressions on every face (a few seconds per face; off by default).
        self.expressions = bool(expressions)

    # -- stages -------------------------------------------------------------------------
    def detect(self, image, thorough: bool = False) -> list[BBox]:
        """Face boxes (x0, y0, x1, y1) in the landmark-box convention, largest first."""
        return [d.box for d in self.detect_detailed(image, thorough)]

    def detect_detailed(self, image, thorough: bool = False) -> list[Detection]:
        """The detections (box, score, which detector, how the face is turned), largest first."""
        with _memory_errors(_image_name(image)):
            array, _ = as_rgb_array(image)
            return detect_faces(array, self.detector_choice.name, thorough, self.assets_dir)

    def predict_position_maps(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops (S = ``input_size``) -> (N, 256, 256, 3) float32 UV maps
        in crop pixels."""
        return run_network(self.model, crops)

    # -- the whole pipeline ---------------------------------------------------------------
    def reconstruct(self, image, bbox: Sequence[float] | None = None,
                    face_index: int = 0) -> ReconstructionResult:
        """Reconstruct one face: the given box, or the ``face_index``-th largest detected face.

        A box is checked (see :func:`check_face_box`) before the image is decoded.
        """
        index = _check_face_index(face_index)
        name = _image_name(image)
        check = None if bbox is None else (lambda w, h: check_face_box(bbox, w, h, name))
        with _memory_errors(name):
            array, path = as_rgb_array(image, check)
        with _memory_errors(name, array.shape[1::-1]):
            if bbox is not None:
                return self._reconstruct_box(array, path, name, bbox)
            detections = self._detect_or_fail(array, name)
            if index >= len(detections):
                raise NoFaceError(name, f"face {index} requested but only {len(detections)} found",
                                  f"pick an index below {len(detections)}")
            return self._reconstruct_box(array, path, name, detections[index].box, detections[index])

    def reconstruct_all(self, image) -> list[ReconstructionResult]:
        """Reconstruct every detected face, largest first."""
        name = _image_name(image)
        with _memory_errors(name):
            array, path = as_rgb_array(image)
        with _memory_errors(name, array.shape[1::-1]):
            return [self._reconstruct_box(array, path, name, d.box, d)
                    for d in self._detect_or_fail(array, name, thorough=True)]

    def _detect_or_fail(self, array: np.ndarray, name: str, thorough: bool = False
                        ) -> list[Detection]:
        detections = detect_faces(array, self.detector_choice.name, thorough, self.assets_dir)
        if not detections:
            # No hint: the caller says how to give the box (see NoFaceError).
            raise NoFaceError(name, f"no face found by the {self.detector_choice.name} "
                              f"detector, also on up-scaled and rotated copies")
        return detections

    def _reconstruct_box(self, array: np.ndarray, path: str | None, name: str, bbox,
                         detection: Detection | None = None) -> ReconstructionResult:
        height, width = array.shape[:2]
        box = check_face_box(bbox, width, height, name)
        start = time.perf_counter()
        if detection is not None and detection.rotation:
            # A sideways or upside-down face: predict in an upright copy of the region around
            # it, then read the map through (crop <- upright copy <- photo), so every output is
            # in the photo's frame (the pose's roll includes the quarter turn).
            window, to_window = upright_window(array, box, detection.rotation)
            prediction = predict_position_map(self.model, window, transform_box(box, to_window),
                                              self.layout, two_pass=self.two_pass, flip=self.flip,
                                              smooth=self.smooth)
            matrix = prediction.matrix @ to_window
            crop_bbox = transform_box(prediction.bbox, np.linalg.inv(to_window))
        else:
            prediction = predict_position_map(self.model, array, box, self.layout,
                                              two_pass=self.two_pass, flip=self.flip,
                                              smooth=self.smooth)
            matrix, crop_bbox = prediction.matrix, prediction.bbox
        if not np.isfinite(prediction.crop_map).all():
            raise WeightsError(f"{self.weights_path}: the network's output for {name} is not "
                               f"finite; the weights file is damaged: re-download or retrain it")
        predicted = time.perf_counter()
        result = self.result_from_position_map(array, prediction.crop_map, matrix, box, path,
                                               landmark_map=prediction.network_map)
        decoded = time.perf_counter()
        timings = {"predict": predicted - start, "decode": decoded - predicted}
        if self.expressions:
            from .expressions import with_expressions

            result = with_expressions(result, self.assets_dir)
            timings["expressions"] = time.perf_counter() - decoded
        result.extras["timings"] = timings
        result.extras["crop_bbox"] = crop_bbox
        # What found the face: "faceboxes", "dlib", "haar", or "given box" (bbox=...).
        result.extras["detector"] = detection.detector if detection is not None else "given box"
        result.extras["detection"] = detection
        return result

    def result_from_position_map(self, image: np.ndarray, crop_map: np.ndarray, matrix: np.ndarray,
                                 bbox: BBox, path: str | None = None,
                                 landmark_map: np.ndarray | None = None) -> ReconstructionResult:
        return decode_position_map(image, crop_map, matrix, bbox, self.layout, self.topology,
                                   self.texture_size, path, landmark_map)
