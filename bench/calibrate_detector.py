"""Measure how OpenCV's cascade boxes relate to the tight 68-landmark box.

Prints, per cascade, the mean offsets (in units of the detector box side) that
engine.detect.BOX_CALIBRATION should hold, measured on annotated photos.

    PRNET_ASSETS=../shared/assets python bench/calibrate_detector.py ../shared/assets/photos
"""

from __future__ import annotations

import sys

import numpy as np

from engine import detect
from engine.crop import landmark_box
from engine.image_io import load_image
from training.annotations import annotated_photos


def main(folder: str) -> None:
    saved = dict(detect.BOX_CALIBRATION)
    detect.BOX_CALIBRATION.update({k: (0.0, 0.0, 0.0, 0.0) for k in saved})
    offsets: dict[str, list[np.ndarray]] = {}
    for path, points in annotated_photos(folder):
        image = load_image(path)
        truth = np.array(landmark_box(points))
        found = detect.detect_faces(image)
        if not found:
            print(f"{path.name}: no detection")
            continue
        best = max(found, key=lambda d: detect._iou(truth, np.array([d.box]))[0])
        box = np.array(best.box)
        side = ((box[2] - box[0]) + (box[3] - box[1])) / 2
        offset = (truth - box) / side
        offsets.setdefault(best.source, []).append(offset)
        print(f"{path.name}: {best.source} offsets {np.round(offset, 3)}")
    for kind, values in offsets.items():
        print(f"{kind}: mean {np.round(np.mean(values, axis=0), 3)} (n={len(values)})")
    detect.BOX_CALIBRATION.update(saved)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/assets/photos")
