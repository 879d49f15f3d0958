"""The two detectors that come inside pip wheels (nothing to download):

- dlib's HOG + linear SVM detector (the ``dlib-bin`` wheel): five poses from frontal to
  half-profile.
- OpenCV's Viola-Jones cascades (opencv-python): frontal, plus the profile cascade on the
  image and its mirror.

Boxes are (x0, y0, x1, y1) in the pixels of the image given, as the detector draws them.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

# dlib scores below this are mostly false positives on the annotated photos; above it
# every true face of the group photo is kept.
DLIB_THRESHOLD = -0.3
# Haar: faces smaller than this fraction of the image side are not looked for.
MIN_FACE_FRACTION = 0.04
# Haar: frontal boxes score this much above profile ones (prefer them where both fire).
FRONTAL_BONUS = 10.0


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


def detect_dlib(image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """dlib's boxes (N, 4) and SVM scores (N,); ``upsample`` doubles the image that many times."""
    rects, scores, _ = _dlib_detector().run(np.ascontiguousarray(image), upsample, DLIB_THRESHOLD)
    boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects],
                     dtype=np.float64).reshape(-1, 4)
    return boxes, np.asarray(scores, dtype=np.float64)


@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV cascade {path} could not be loaded; reinstall opencv-python-headless")
    return cascade


def _run_cascade(cascade: cv2.CascadeClassifier, grey: np.ndarray, min_size: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    boxes, _, weights = cascade.detectMultiScale3(grey, scaleFactor=1.1, minNeighbors=5,
                                                  minSize=(min_size, min_size),
                                                  outputRejectLevels=True)
    xywh = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return xyxy, np.asarray(weights, dtype=np.float64).reshape(-1)


def haar_min_size(image: np.ndarray) -> int:
    """The smallest face (px) the cascades look for in an image of this size."""
    return max(20, int(MIN_FACE_FRACTION * max(image.shape[:2])))


def detect_haar(image: np.ndarray, min_size: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Cascade boxes (N, 4), scores (N,) and which cascade found each ("frontal", "profile"),
    for faces of at least ``min_size`` px (default :func:`haar_min_size`)."""
    grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    min_size = haar_min_size(image) if min_size is None else min_size
    frontal, frontal_scores = _run_cascade(_cascade("haarcascade_frontalface_default.xml"), grey, min_size)
    profile = _cascade("haarcascade_profileface.xml")
    right, right_scores = _run_cascade(profile, grey, min_size)
    left, left_scores = _run_cascade(profile, np.ascontiguousarray(grey[:, ::-1]), min_size)
    left[:, [0, 2]] = grey.shape[1] - left[:, [2, 0]]  # back from the mirror
    boxes = np.concatenate([frontal, right, left])
    scores = np.concatenate([frontal_scores + FRONTAL_BONUS, right_scores, left_scores])
    return boxes, scores, ["frontal"] * len(frontal) + ["profile"] * (len(right) + len(left))
