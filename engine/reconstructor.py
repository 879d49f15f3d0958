"""The one public entry point: photo in, :class:`ReconstructionResult` out.

    from engine import Reconstructor
    rec = Reconstructor()                      # shipped default weights, CUDA if present
    result = rec.reconstruct("face.jpg")       # largest face
    result.landmarks, result.mesh, result.pose, result.texture

The CLI (``prnet reconstruct``) and the Blender add-on are thin layers over it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .detect import DETECTORS, Detection, choose_detector, detect_faces
from .errors import NoFaceError, PRNetError, WeightsError
from .image_io import as_rgb_array
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


def _check_bbox(bbox: Sequence[float], width: int, height: int) -> BBox:
    if len(bbox) != 4:
        raise PRNetError(f"face box {tuple(bbox)} must be 4 numbers: X0 Y0 X1 Y1")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x1 > x0 and y1 > y0):
        raise PRNetError(f"face box {tuple(bbox)} is empty: it needs X1 > X0 and Y1 > Y0")
    if x1 < 0 or y1 < 0 or x0 > width or y0 > height:
        raise PRNetError(f"face box {tuple(bbox)} lies outside the {width}x{height} image")
    return x0, y0, x1, y1


class Reconstructor:
    """PRNet: detect faces, crop, regress the UV position map, and read everything from it."""

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "auto",
                 topology: str = "bfm", texture_size: int = 256, detector: str = "auto",
                 assets_dir: str | os.PathLike | None = None, two_pass: bool = True,
                 flip: bool = False, expressions: bool = False) -> None:
        from .weights import load_model, prepare_for_inference, resolve_device

        if topology not in TOPOLOGIES:
            raise PRNetError(f"unknown topology {topology!r}; choose one of {TOPOLOGIES}")
        if detector not in DETECTORS:
            raise PRNetError(f"unknown detector {detector!r}; choose one of {DETECTORS}")
        if expressions and topology != "bfm":
            raise PRNetError("expression shapes need topology='bfm' (--topology bfm)")
        if not 16 <= int(texture_size) <= 8192:
            raise PRNetError(f"texture size {texture_size} must be between 16 and 8192")
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
        self.texture_size = int(texture_size)
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
        # ICT-FaceKit's 57 expressions on every face (a few seconds per face; off by default).
        self.expressions = bool(expressions)

    # -- stages -------------------------------------------------------------------------
    def detect(self, image, thorough: bool = False) -> list[BBox]:
        """Face boxes (x0, y0, x1, y1) in the landmark-box convention, largest first."""
        return [d.box for d in self.detect_detailed(image, thorough)]

    def detect_detailed(self, image, thorough: bool = False) -> list[Detection]:
        """The detections (box, score, which detector, how the face is turned), largest first."""
        array, _ = as_rgb_array(image)
        return detect_faces(array, self.detector_choice.name, thorough, self.assets_dir)

    def predict_position_maps(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops (S = ``input_size``) -> (N, 256, 256, 3) float32 UV maps
        in crop pixels."""
        return run_network(self.model, crops)

    # -- the whole pipeline ---------------------------------------------------------------
    def reconstruct(self, image, bbox: Sequence[float] | None = None,
                    face_index: int = 0) -> ReconstructionResult:
        """Reconstruct one face: the given box, or the ``face_index``-th largest detected face."""
        array, path = as_rgb_array(image)
        if bbox is not None:
            return self._reconstruct_box(array, path, bbox)
        detections = self._detect_or_fail(array, path)
        if not 0 <= face_index < len(detections):
            raise NoFaceError(path or "image", f"face {face_index} requested but only {len(detections)} "
                              f"found", f"pick an index below {len(detections)}")
        return self._reconstruct_box(array, path, detections[face_index].box, detections[face_index])

    def reconstruct_all(self, image) -> list[ReconstructionResult]:
        """Reconstruct every detected face, largest first."""
        array, path = as_rgb_array(image)
        return [self._reconstruct_box(array, path, d.box, d)
                for d in self._detect_or_fail(array, path, thorough=True)]

    def _detect_or_fail(self, array: np.ndarray, path: str | None, thorough: bool = False
                        ) -> list[Detection]:
        detections = detect_faces(array, self.detector_choice.name, thorough, self.assets_dir)
        if not detections:
            # No hint: the caller says how to give the box (see NoFaceError).
            raise NoFaceError(path or "image", f"no face found by the {self.detector_choice.name} "
                              f"detector, also on up-scaled and rotated copies")
        return detections

    def _reconstruct_box(self, array: np.ndarray, path: str | None, bbox,
                         detection: Detection | None = None) -> ReconstructionResult:
        height, width = array.shape[:2]
        box = _check_bbox(bbox, width, height)
        start = time.perf_counter()
        if detection is not None and detection.rotation:
            # A sideways or upside-down face: predict in an upright copy of the region around
            # it, then read the map through (crop <- upright copy <- photo), so every output is
            # in the photo's frame (the pose's roll includes the quarter turn).
            window, to_window = upright_window(array, box, detection.rotation)
            prediction = predict_position_map(self.model, window, transform_box(box, to_window),
                                              self.layout, two_pass=self.two_pass, flip=self.flip)
            matrix = prediction.matrix @ to_window
            crop_bbox = transform_box(prediction.bbox, np.linalg.inv(to_window))
        else:
            prediction = predict_position_map(self.model, array, box, self.layout,
                                              two_pass=self.two_pass, flip=self.flip)
            matrix, crop_bbox = prediction.matrix, prediction.bbox
        predicted = time.perf_counter()
        result = self.result_from_position_map(array, prediction.crop_map, matrix, box, path)
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
                                 bbox: BBox, path: str | None = None) -> ReconstructionResult:
        return decode_position_map(image, crop_map, matrix, bbox, self.layout, self.topology,
                                   self.texture_size, path)
