"""Measure how a detector's boxes relate to the tight 68-landmark box, on synthetic faces.

Each face comes from ``training.synthetic.generate_sample`` (exact 68 landmarks), is scaled
to a random size (landmark box of 40 to 400 px, log-uniform) and pasted, feathered, into a
larger scene of smooth random noise (640x480 to 1280x960). ``engine.detect.detect_faces``
runs on the scene with zero calibration; the detection overlapping the landmark box most is
the face's. Printed:

- the offsets ``(landmark box - detector box) / detector box side`` that
  ``engine.detect.BOX_CALIBRATION`` holds: median (the constants), mean, spread, and the
  medians per |yaw| bucket; fitted on the first half of the faces;
- on the second half: the IoU with the landmark box before and after calibration;
- with ``--nme``: the 2D landmark NME (mean error / sqrt(w h) of the landmark box) of the
  shipped weights from the landmark box, the detector's own box and the calibrated box,
  each with the one-pass and the two-pass crop.

Not measured on the shared photos: the tests check the detector there. Seeds start at
2,000,000,000, far from the training (0...) and evaluation (1,000,000,000...) seeds.

    PRNET_ASSETS=../shared/assets python bench/calibrate_detector.py --detector faceboxes --faces 400 --nme
"""

from __future__ import annotations

import argparse
import math
import time

import cv2
import numpy as np
import torch

from engine.crop import landmark_box
from engine.detect import BOX_CALIBRATION, calibrate, detect_faces
from engine.detectors import nms
from training.synthetic import SyntheticConfig, generate_sample

BASE_SEED = 2_000_000_000
POSE = SyntheticConfig(yaw_range=(-60.0, 60.0), pitch_range=(-20.0, 20.0), roll_range=(-20.0, 20.0))
# The generator's crop is 1.6 x the landmark box's mean side, mapped to 0..255.
CROP_BOX_SIDE = 255 / 1.6


def box_iou(a, b) -> float:
    return float(nms.box_iou(torch.tensor(a, dtype=torch.float64), torch.tensor([b], dtype=torch.float64))[0])


def noise_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth noise at three scales, mostly in brightness: texture without anything face-like."""
    scene = np.full((height, width, 3), rng.uniform(40, 215, 3), np.float32)
    for cells, amplitude in ((3, 50.0), (12, 25.0), (48, 10.0)):
        shape = (cells, max(2, cells * width // height))
        grid = rng.normal(0.0, amplitude, (*shape, 1)) + rng.normal(0.0, 0.3 * amplitude, (*shape, 3))
        scene += cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(scene, 0, 255).astype(np.uint8)


def synthetic_scene(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(scene, (68, 2) landmarks in scene pixels, yaw in degrees) of one synthetic face."""
    sample = generate_sample(seed, POSE)
    rng = np.random.default_rng(seed)
    side = math.exp(rng.uniform(math.log(40), math.log(400)))
    crop = sample.image.shape[0]
    size = max(8, round(crop * side / CROP_BOX_SIDE))
    face = cv2.resize(sample.image, (size, size),
                      interpolation=cv2.INTER_AREA if size < crop else cv2.INTER_LINEAR)
    width = max(int(rng.integers(640, 1281)), size + 32)
    height = max(int(rng.integers(480, 961)), size + 32)
    scene = noise_scene(rng, height, width)
    left, top = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / (0.12 * size), 0, 1)
    alpha = np.minimum.outer(ramp, ramp)[..., None]
    window = scene[top:top + size, left:left + size].astype(np.float32)
    scene[top:top + size, left:left + size] = (alpha * face + (1 - alpha) * window).round().astype(np.uint8)
    landmarks = (sample.landmarks[:, :2] + 0.5) * (size / crop) - 0.5 + np.array([left, top])
    return scene, landmarks, float(sample.params["yaw"])


def measure(detector: str, faces: int) -> list[dict]:
    zero = {kind: (0.0, 0.0, 0.0, 0.0) for kind in BOX_CALIBRATION}
    records = []
    for index in range(faces):
        scene, landmarks, yaw = synthetic_scene(BASE_SEED + index)
        truth = landmark_box(landmarks)
        found = detect_faces(scene, detector, calibration=zero)
        best = max(found, key=lambda d: box_iou(d.box, truth), default=None)
        record = {"seed": BASE_SEED + index, "landmarks": landmarks, "truth": truth, "yaw": yaw,
                  "box": None}
        if best is not None and box_iou(best.box, truth) >= 0.3:
            box = np.array(best.box)
            side = ((box[2] - box[0]) + (box[3] - box[1])) / 2
            record.update(box=best.box, kind=best.source, offset=(np.array(truth) - box) / side)
        records.append(record)
    return records


def summarise(records: list[dict]) -> dict[str, tuple[float, ...]]:
    """Per source, the median offsets over the first half of the found faces."""
    found = [r for r in records if r["box"] is not None]
    print(f"{len(found)} of {len(records)} faces found (a detection with IoU >= 0.3 with the landmark box)")
    for r in records:
        if r["box"] is None:
            side = ((r["truth"][2] - r["truth"][0]) + (r["truth"][3] - r["truth"][1])) / 2
            print(f"  missed seed {r['seed']}: landmark box {side:.0f} px, yaw {r['yaw']:.0f}")
    fit = found[: len(found) // 2] or found
    constants = {}
    for kind in sorted({r["kind"] for r in fit}):
        offsets = np.array([r["offset"] for r in fit if r["kind"] == kind])
        median = np.median(offsets, axis=0)
        constants[kind] = tuple(float(v) for v in np.round(median, 3))
        print(f"{kind}: fitted on {len(offsets)} faces")
        print(f"  median offsets (dx0, dy0, dx1, dy1) = {constants[kind]}")
        print(f"  mean {np.round(offsets.mean(axis=0), 3)}, std {np.round(offsets.std(axis=0), 3)}")
        yaws = np.abs([r["yaw"] for r in fit if r["kind"] == kind])
        for label, chosen in (("|yaw| <= 30", offsets[yaws <= 30]), ("|yaw| 30..60", offsets[yaws > 30])):
            if len(chosen):
                print(f"  {label}: median {np.round(np.median(chosen, axis=0), 3)} (n={len(chosen)})")
    held_out = found[len(found) // 2:]
    raw = [box_iou(r["box"], r["truth"]) for r in held_out]
    fixed = [box_iou(tuple(calibrate(np.array([r["box"]]), [r["kind"]], constants)[0]), r["truth"])
             for r in held_out]
    print(f"held-out half (n={len(held_out)}): IoU with the landmark box, raw mean {np.mean(raw):.3f} "
          f"(>= 0.5: {np.mean(np.array(raw) >= 0.5):.0%}), calibrated mean {np.mean(fixed):.3f} "
          f"(>= 0.5: {np.mean(np.array(fixed) >= 0.5):.0%})")
    return constants


def landmark_nme(records: list[dict], constants: dict) -> None:
    from engine.reconstructor import default_weights_path
    from engine.uv_layout import load_uv_layout
    from engine.weights import load_model, prepare_for_inference
    from training.evaluate import NetworkPredictor
    from training.metrics import bbox_size, nme

    model = prepare_for_inference(load_model(default_weights_path(), device="cpu"))
    layout = load_uv_layout()
    predictors = {name: NetworkPredictor(model, layout, two_pass=two)
                  for name, two in (("one-pass", False), ("two-pass", True))}
    found = [r for r in records if r["box"] is not None]
    boxes = {
        "landmark box": lambda r: r["truth"],
        "detector box": lambda r: r["box"],
        "calibrated box": lambda r: tuple(calibrate(np.array([r["box"]]), [r["kind"]], constants)[0]),
    }
    errors: dict[tuple[str, str], list[float]] = {}
    for r in found:
        scene = synthetic_scene(r["seed"])[0]
        for box_name, pick in boxes.items():
            for pass_name, predictor in predictors.items():
                error = nme(predictor(scene, pick(r)).landmarks, r["landmarks"], bbox_size(r["landmarks"]))
                errors.setdefault((box_name, pass_name), []).append(error)
    print(f"2D NME of the shipped weights on the {len(found)} found faces:")
    for box_name in boxes:
        print(f"  {box_name:15s} " + ", ".join(f"{pass_name} {np.mean(errors[box_name, pass_name]) * 100:.2f}%"
                                                for pass_name in predictors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="faceboxes", choices=["faceboxes", "dlib", "haar"])
    parser.add_argument("--faces", type=int, default=400)
    parser.add_argument("--nme", action="store_true", help="also the landmark NME from each box")
    args = parser.parse_args()
    start = time.perf_counter()
    records = measure(args.detector, args.faces)
    constants = summarise(records)
    if args.nme:
        landmark_nme(records, constants)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
