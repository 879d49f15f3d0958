"""Face detection that works offline from pip packages alone.

Two detectors, both with their models inside their pip wheels (nothing is
downloaded):

- ``"dlib"`` (default when ``dlib`` is importable; the ``dlib-bin`` wheel): dlib's
  HOG + linear SVM detector, five poses from frontal to half-profile. It finds far
  more faces than the cascades (all six of a group photo, small faces, turned heads).
- ``"haar"``: OpenCV's Viola-Jones cascades from opencv-python (frontal, plus the
  profile cascade on the image and its mirror), the fallback.

Their boxes are converted to the landmark-box convention the crop expects (the
tight box of the 68 landmarks, see :func:`engine.crop.landmark_box`) by a fixed
offset per detector (``BOX_CALIBRATION``), measured on annotated photos by
``bench/calibrate_detector.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

# Detection runs on a downscaled copy: a fast pass at FAST_MAX_SIDE (dlib without
# upsampling finds faces down to ~80 px there, in ~60 ms), and only when that finds
# nothing (or every face is wanted) a thorough pass at DETECT_MAX_SIDE with 2x
# upsampling, which finds faces down to ~20 px of the original but costs ~8x more.
FAST_MAX_SIDE = 800
DETECT_MAX_SIDE = 1024
MIN_FACE_FRACTION = 0.04

# (dx0, dy0, dx1, dy1) in units of the detector box side: landmark box = detector box + offsets.
BOX_CALIBRATION = {
    "dlib": (0.04, 0.09, 0.02, 0.07),
    "frontal": (0.03, 0.25, -0.06, 0.11),
    "profile": (0.03, 0.25, -0.06, 0.11),
}
DETECTORS = ("auto", "dlib", "haar")
# Detections scoring more than this below the best one rank after every confident face.
CONFIDENCE_MARGIN = 1.0


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]   # landmark-convention face box in image pixels
    score: float
    source: str                              # which cascade found it


@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV cascade {path} could not be loaded; reinstall opencv-python-headless")
    return cascade


def _run(cascade: cv2.CascadeClassifier, grey: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    boxes, _, weights = cascade.detectMultiScale3(grey, scaleFactor=1.1, minNeighbors=5,
                                                  minSize=(min_size, min_size),
                                                  outputRejectLevels=True)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    return boxes, weights


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


def _calibrate(xywh: np.ndarray, kind: str) -> np.ndarray:
    dx0, dy0, dx1, dy1 = BOX_CALIBRATION[kind]
    x, y, w, h = xywh.T
    side = (w + h) / 2
    return np.stack([x + dx0 * side, y + dy0 * side, x + w + dx1 * side, y + h + dy1 * side], axis=1)


def dlib_available() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _dlib_detector():
    import dlib

    return dlib.get_frontal_face_detector()


# dlib scores below this are mostly false positives on the annotated photos; above it
# every true face of the group photo is kept.
DLIB_THRESHOLD = -0.3


def _detect_dlib(small: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rects, scores, _ = _dlib_detector().run(small, upsample, DLIB_THRESHOLD)
    boxes = np.array([[r.left(), r.top(), r.right() + 1 - r.left(), r.bottom() + 1 - r.top()]
                      for r in rects], dtype=np.float64).reshape(-1, 4)
    return _calibrate(boxes, "dlib"), np.asarray(scores, dtype=np.float64), ["dlib"] * len(boxes)


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor == 1.0:
        return image, factor
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def detect_faces(image: np.ndarray, detector: str = "auto", thorough: bool = False) -> list[Detection]:
    """Faces in an (H, W, 3) uint8 RGB image, boxes in the landmark convention.

    Order: the confident faces largest first, then weak detections largest first.

    ``thorough`` skips the fast pass (use it when every face, however small, is wanted).
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {DETECTORS}")
    use_dlib = detector == "dlib" or (detector == "auto" and dlib_available())
    if not use_dlib:
        small, factor = _shrink(image, DETECT_MAX_SIDE)
        return _finish(*_detect_haar(small), factor)
    if not thorough:
        small, factor = _shrink(image, FAST_MAX_SIDE)
        found = _finish(*_detect_dlib(np.ascontiguousarray(small), 0), factor)
        if found:
            return found
    small, factor = _shrink(image, DETECT_MAX_SIDE)
    return _finish(*_detect_dlib(np.ascontiguousarray(small), 1), factor)


def _detect_haar(small: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    min_size = max(20, int(MIN_FACE_FRACTION * max(grey.shape)))

    candidates, scores, kinds = [], [], []
    frontal, weights = _run(_cascade("haarcascade_frontalface_default.xml"), grey, min_size)
    candidates.append(_calibrate(frontal, "frontal"))
    scores.append(weights + 10.0)  # prefer frontal boxes where both cascades fire
    kinds += ["frontal"] * len(frontal)
    profile = _cascade("haarcascade_profileface.xml")
    right, w_right = _run(profile, grey, min_size)
    left, w_left = _run(profile, np.ascontiguousarray(grey[:, ::-1]), min_size)
    if len(left):
        left[:, 0] = grey.shape[1] - left[:, 0] - left[:, 2]
    for boxes, weights in ((right, w_right), (left, w_left)):
        candidates.append(_calibrate(boxes, "profile"))
        scores.append(weights)
        kinds += ["profile"] * len(boxes)

    return np.concatenate(candidates), np.concatenate(scores), kinds


def _finish(boxes: np.ndarray, score: np.ndarray, kinds: list[str], factor: float) -> list[Detection]:
    keep: list[int] = []
    for index in np.argsort(-score):
        if not keep or _iou(boxes[index], boxes[keep]).max() < 0.3:
            keep.append(int(index))
    detections = [Detection(tuple(float(v) / factor for v in boxes[i]), float(score[i]), kinds[i])
                  for i in keep]
    if detections:
        # "Largest" means the largest confident face: a weak detection (far below the
        # best score, e.g. a round badge on a shirt) never outranks a clear face.
        best = max(d.score for d in detections)
        detections.sort(key=lambda d: (d.score < best - CONFIDENCE_MARGIN,
                                       -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
    return detections
