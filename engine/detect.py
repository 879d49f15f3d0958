"""Face detection: which detector, at which scales and orientations, and the boxes it returns.

Detectors (``engine.detectors``):

- ``"faceboxes"``: our FaceBoxes CNN (Zhang et al., IJCB 2017) with the MIT-licensed weights
  ``detectors/faceboxes/FaceBoxesProd.pth``, an asset found like the others (``assets_dir`` /
  ``$PRNET_ASSETS`` / the user cache that ``prnet fetch-assets`` fills). Finds turned heads,
  tilted heads and faces behind sunglasses that the others miss.
- ``"dlib"``: dlib's HOG detector (the ``dlib-bin`` wheel, model built in).
- ``"haar"``: OpenCV's Haar cascades (opencv-python), the last resort.
- ``"auto"``: FaceBoxes when its weights are found, else dlib when importable, else Haar;
  :func:`choose_detector` says which and why.

Every detector runs the same way (:func:`detect_faces`):

1. on a copy at most ``fast_side`` pixels on its longer side (never the full photo: detection
   memory does not grow with the photo);
2. if nothing is found (or every face is wanted), on an up-scaled copy (2x, at most
   ``2 * DETECT_MAX_SIDE``) for small faces;
3. if still nothing, on the first copy rotated by +90, -90 and 180 degrees. The boxes of a
   face found that way are mapped back into the photo's frame (exact for quarter turns), and
   :attr:`Detection.rotation` says how the face is turned; the reconstructor crops it upright.

"Nothing" for FaceBoxes means no face scoring ``SURE_SCORE``; if no pass is sure, the weak
upright detections are returned, else the most confident orientation's.

Boxes are shifted into the landmark-box convention the crop expects (the tight box of the 68
landmarks, see :func:`engine.crop.landmark_box`) by a fixed offset per detector
(``BOX_CALIBRATION``), applied in the frame where the face is upright.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch

from .assets import FACEBOXES_WEIGHTS, asset_path
from .detectors.classic import detect_dlib, detect_haar, dlib_available, haar_min_size
from .detectors.nms import nms
from .errors import AssetError, PRNetError
from .orientation import ROTATIONS, rotate_image, rotation_matrix, transform_box

BBox = tuple[float, float, float, float]
Calibration = Mapping[str, Sequence[float]]
DETECTORS = ("auto", "faceboxes", "dlib", "haar")
FACEBOXES_WHAT = "FaceBoxes detector weights"
FACEBOXES_FIX = "run `prnet fetch-assets` once to download them, or choose the dlib detector"

# The small-face pass runs on a copy at most this large, up-scaled 2x.
DETECT_MAX_SIDE = 1024
# Per detector: the first pass's image size; how far below the best score a detection may
# score and still count as confident ("largest face" means the largest confident one: a weak
# detection, e.g. a round badge on a shirt, never outranks a clear face).
FAST_SIDE = {"faceboxes": 1024, "dlib": 800, "haar": 1024}
CONFIDENCE_MARGIN = {"faceboxes": 0.4, "dlib": 1.0, "haar": 1.0}
# A FaceBoxes pass whose best face scores below this also tries the next passes (up-scaled,
# rotated): a sideways face can score upright too, boxed badly (Lenna turned by 90 and 180
# degrees: 0.53 and 0.71 on the up-scaled copy). dlib and Haar: any detection counts.
SURE_SCORE = {"faceboxes": 0.8}
# Detections overlapping a better one by more than this are the same face.
MERGE_IOU = 0.3

# Landmark box = detector box + offsets (dx0, dy0, dx1, dy1) x the detector box side
# ((width + height) / 2).
#   faceboxes: medians over 194 synthetic faces (training.synthetic, yaw +-60, pitch and roll
#     +-20 degrees, landmark boxes of 40 to 400 px pasted into 640x480 to 1280x960 scenes of
#     smooth noise; not the shared photos), measured by `bench/calibrate_detector.py --faces 400`
#     (the other half of the faces: IoU with the landmark box 0.687 raw, 0.811 calibrated).
#     FaceBoxes' box starts at the forehead: the landmark box (brows to chin) is 0.22 lower.
#   dlib, frontal, profile (Haar): means on annotated photos, by the earlier photo version of
#     that script.
BOX_CALIBRATION = {
    "faceboxes": (-0.013, 0.219, 0.017, 0.009),
    "dlib": (0.04, 0.09, 0.02, 0.07),
    "frontal": (0.03, 0.25, -0.06, 0.11),
    "profile": (0.03, 0.25, -0.06, 0.11),
}


@dataclass(frozen=True)
class Detection:
    box: BBox           # landmark-convention face box in the photo's pixels (axis-aligned)
    score: float        # the detector's own scale: FaceBoxes [0, 1], dlib/Haar SVM-like margins
    source: str         # what found it: "faceboxes", "dlib", or the cascade ("frontal", "profile")
    detector: str = ""  # the detector: "faceboxes", "dlib" or "haar"
    rotation: int = 0   # degrees counter-clockwise that turn the face upright (0, 90, -90, 180)


@dataclass(frozen=True)
class DetectorChoice:
    name: str                  # "faceboxes", "dlib" or "haar"
    weights: Path | None       # FaceBoxes weights file
    note: str | None = None    # why "auto" did not choose FaceBoxes


def choose_detector(detector: str = "auto", assets_dir: str | os.PathLike | None = None) -> DetectorChoice:
    """The detector that ``detector`` means on this machine.

    ``"faceboxes"`` without its weights raises :class:`AssetError`; ``"dlib"`` without dlib
    raises :class:`PRNetError`; ``"auto"`` falls back (FaceBoxes, dlib, Haar) and says why.
    """
    if detector not in DETECTORS:
        raise PRNetError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if detector == "haar":
        return DetectorChoice("haar", None)
    if detector == "dlib":
        if not dlib_available():
            raise PRNetError("the dlib detector needs the dlib package: pip install dlib-bin, "
                             "or choose the faceboxes or haar detector")
        return DetectorChoice("dlib", None)
    try:
        return DetectorChoice("faceboxes", asset_path(FACEBOXES_WEIGHTS, assets_dir, what=FACEBOXES_WHAT,
                                                      fix=FACEBOXES_FIX))
    except AssetError:
        if detector == "faceboxes":
            raise
    fallback = "dlib" if dlib_available() else "haar"
    return DetectorChoice(fallback, None, f"FaceBoxes weights not found (`prnet fetch-assets` gets "
                                          f"them); using the {fallback} detector")


def calibrate(boxes: np.ndarray, kinds: list[str], calibration: Calibration | None = None) -> np.ndarray:
    """Detector boxes (N, 4) -> landmark-convention boxes, by ``calibration[kind]``
    (default ``BOX_CALIBRATION``)."""
    table = BOX_CALIBRATION if calibration is None else calibration
    offsets = np.array([table[kind] for kind in kinds], dtype=np.float64).reshape(-1, 4)
    side = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2
    return boxes + offsets * side[:, None]


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy at most ``max_side`` on its longer side (the image itself if it fits) and the factor."""
    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor == 1.0:
        return image, factor
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def _upscale(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)


Found = tuple[np.ndarray, np.ndarray, list[str]]


def _find(choice: DetectorChoice, image: np.ndarray, upscaled: bool, calibration: Calibration | None
          ) -> Found:
    """Calibrated boxes, scores and sources of one detector pass, in ``image`` pixels."""
    if choice.name == "dlib":
        boxes, scores = detect_dlib(image, 1 if upscaled else 0)
        kinds = ["dlib"] * len(boxes)
        return calibrate(boxes, kinds, calibration), scores, kinds
    fed = _upscale(image) if upscaled else image
    if choice.name == "faceboxes":
        from .detectors.faceboxes_detector import faceboxes_detector

        boxes, scores = faceboxes_detector(str(choice.weights))(fed)
        kinds = ["faceboxes"] * len(boxes)
    else:  # the same smallest face in pixels: on the up-scaled copy, half as large a face
        boxes, scores, kinds = detect_haar(fed, haar_min_size(image))
    return calibrate(boxes / (2.0 if upscaled else 1.0), kinds, calibration), scores, kinds


def _merge(choice: DetectorChoice, passes: list[tuple[Found, float, int]]) -> list[Detection]:
    """Detections of several passes ((found, factor, rotation)) in the photo's frame: duplicates
    merged, confident faces first, largest first."""
    boxes = np.concatenate([found[0] / factor for found, factor, _ in passes]).reshape(-1, 4)
    if not len(boxes):
        return []
    scores = np.concatenate([found[1] for found, _, _ in passes])
    kinds = [kind for found, _, _ in passes for kind in found[2]]
    rotations = [rotation for found, _, rotation in passes for _ in found[2]]
    kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), MERGE_IOU).tolist()
    detections = [Detection(tuple(float(v) for v in boxes[i]), float(scores[i]), kinds[i],
                            choice.name, rotations[i]) for i in kept]
    best = max(d.score for d in detections)
    margin = CONFIDENCE_MARGIN[choice.name]
    detections.sort(key=lambda d: (d.score < best - margin,
                                   -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
    return detections


def _rotated_pass(choice: DetectorChoice, small: np.ndarray, factor: float, rotation: int,
                  calibration: Calibration | None) -> tuple[Found, float, int]:
    """One pass on ``small`` rotated by ``rotation``, boxes mapped back into ``small``'s frame."""
    height, width = small.shape[:2]
    boxes, scores, kinds = _find(choice, rotate_image(small, rotation), False, calibration)
    back = np.linalg.inv(rotation_matrix(rotation, width, height))
    boxes = np.array([transform_box(tuple(b), back) for b in boxes]).reshape(-1, 4)
    return (boxes, scores, kinds), factor, rotation


def _sure(choice: DetectorChoice, detections: list[Detection]) -> bool:
    return any(d.score >= SURE_SCORE.get(choice.name, -np.inf) for d in detections)


def detect_faces(image: np.ndarray, detector: str = "auto", thorough: bool = False,
                 assets_dir: str | os.PathLike | None = None, calibration: Calibration | None = None
                 ) -> list[Detection]:
    """Faces in an (H, W, 3) uint8 RGB image, boxes in the landmark convention, in its pixels.

    Order: the confident faces largest first, then weak detections largest first.
    ``thorough`` adds the small-face pass even when the first pass found faces (use it when
    every face, however small, is wanted). ``calibration`` replaces ``BOX_CALIBRATION``
    (all zeros: the detector's own boxes, for measuring it).
    """
    choice = choose_detector(detector, assets_dir)
    small, factor = shrink(image, FAST_SIDE[choice.name])
    passes = [(_find(choice, small, False, calibration), factor, 0)]
    if thorough or not _sure(choice, _merge(choice, passes)):
        same = FAST_SIDE[choice.name] == DETECT_MAX_SIDE
        large, large_factor = (small, factor) if same else shrink(image, DETECT_MAX_SIDE)
        passes.append((_find(choice, large, True, calibration), large_factor, 0))
    upright = _merge(choice, passes)
    if _sure(choice, upright):
        return upright
    rotated = []
    for rotation in ROTATIONS[1:]:
        found = _merge(choice, [_rotated_pass(choice, small, factor, rotation, calibration)])
        if _sure(choice, found):
            return found
        rotated.append(found)
    # Only weak detections: upright ones if any, else the most confident orientation's.
    return upright or max(rotated, key=lambda found: max((d.score for d in found), default=-np.inf))
