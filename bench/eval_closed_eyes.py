"""Does the model close closed eyes? Eyelid gaps predicted against the truth on synthetic faces.

Not a test. Run (``PRNET_ASSETS`` set)::

    .venv/bin/python bench/eval_closed_eyes.py [WEIGHTS ...] [--count 200]

The faces are held-out synthetic faces (seeds 1,100,000,000+, disjoint from every training
and test seed we use) with ICT-FaceKit's eye closures, winks and half-closed eyes on every
face (``ict_expression_probability`` 1), yaw within +-45 degrees so both eyes are seen. Per
eye, the lid gap is the mean 2D distance of the upper-lid landmarks to the lower-lid ones
(iBUG 37/38 to 41/40 for the subject's right eye, 43/44 to 47/46 for the left), over the
outer interocular distance. An eye counts as closed when its true gap is under 0.03 and as
open over 0.08; the table gives the mean predicted gap in each group and the share of closed
eyes predicted closed (gap under 0.05).

``--ceiling`` adds what a coarse output could do at best: the true maps averaged down to 64x64
and 32x32 over their valid texels (as training does) and upsampled back (as the network's
output is), their lid gaps read the same way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.landmarks import OUTER_EYE_CORNERS  # noqa: E402

LIDS = {"right": ((37, 41), (38, 40)), "left": ((43, 47), (44, 46))}
SEED = 1_100_000_000
CLOSED, OPEN, PREDICTED_CLOSED = 0.03, 0.08, 0.05


def lid_gaps(landmarks: np.ndarray) -> dict[str, float]:
    xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
    eyes = np.linalg.norm(xy[OUTER_EYE_CORNERS[0]] - xy[OUTER_EYE_CORNERS[1]])
    return {eye: float(np.mean([np.linalg.norm(xy[a] - xy[b]) for a, b in pairs]) / eyes)
            for eye, pairs in LIDS.items()}


def print_ceiling(count: int, config: dict, layout) -> None:
    import torch

    from engine.uv_layout import read_landmarks
    from engine.uv_resample import downsample_position_map, upsample_uv_map
    from training.datasets import SyntheticDataset
    from training.datasets.synthetic_cache import synthetic_valid_mask

    valid = synthetic_valid_mask()
    dataset = SyntheticDataset(count, SEED, config, augment_config=None, skip_bad=False)
    gaps: dict[int, list[float]] = {64: [], 32: []}
    for index in range(count):
        full = np.asarray(dataset.sample(index).position_map, np.float32)
        true = lid_gaps(read_landmarks(full, layout))
        for size, found in gaps.items():
            low, _ = downsample_position_map(full, valid, size)
            up = upsample_uv_map(torch.from_numpy(low).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
            predicted = lid_gaps(read_landmarks(up.numpy(), layout))
            found += [predicted[eye] for eye, gap in true.items() if gap < CLOSED]
    for size, found in gaps.items():
        found_a = np.array(found)
        print(f"{f'ceiling: true map at {size}x{size}':50s} {len(found_a):11d} {'':8s} "
              f"{found_a.mean():8.3f} {np.mean(found_a < PREDICTED_CLOSED):14.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="*", default=["engine/default_weights/prnet_default.safetensors"])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--ceiling", action="store_true",
                        help="also score the true maps averaged down to 64x64 and 32x32")
    args = parser.parse_args()

    from engine.crop import landmark_box
    from engine.uv_layout import load_uv_layout
    from engine.weights import load_model
    from training.evaluate import NetworkPredictor, synthetic_samples

    layout = load_uv_layout()
    config = {"ict_expression_probability": 1.0, "yaw_range": [-45.0, 45.0]}
    faces = list(synthetic_samples(args.count, SEED, config, layout))
    truth = [lid_gaps(face.landmarks) for face in faces]
    print(f"{args.count} faces, seeds {SEED}..{SEED + args.count - 1}, {config}")
    print(f"{'weights':50s} {'closed eyes':>11s} {'true gap':>8s} {'pred gap':>8s} "
          f"{'closed->closed':>14s} {'open eyes':>9s} {'true gap':>8s} {'pred gap':>8s}")
    if args.ceiling:
        print_ceiling(args.count, config, layout)
    for weights in args.weights:
        predictor = NetworkPredictor(load_model(weights, device="cpu"), layout, two_pass=True)
        closed, opened = [], []
        for face, true in zip(faces, truth):
            predicted = lid_gaps(predictor(face.image, landmark_box(face.landmarks)).landmarks)
            for eye, gap in true.items():
                if gap < CLOSED:
                    closed.append((gap, predicted[eye]))
                elif gap > OPEN:
                    opened.append((gap, predicted[eye]))
        closed_a, opened_a = np.array(closed).reshape(-1, 2), np.array(opened).reshape(-1, 2)
        hit = float(np.mean(closed_a[:, 1] < PREDICTED_CLOSED)) if len(closed_a) else float("nan")
        print(f"{weights[-50:]:50s} {len(closed_a):11d} {closed_a[:, 0].mean():8.3f} "
              f"{closed_a[:, 1].mean():8.3f} {hit:14.0%} {len(opened_a):9d} "
              f"{opened_a[:, 0].mean():8.3f} {opened_a[:, 1].mean():8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
