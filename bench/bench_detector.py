"""FaceBoxes beside dlib's HOG detector in one run: ms per photo and share of photo-to-mesh time.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/bench_detector.py [--repeats 5]

Each shared photo goes through ``engine.detect.detect_faces`` exactly as the pipeline calls it
(the copy at most 1024 px for FaceBoxes, 800 px for dlib, and the extra passes when the first
finds nothing), and through the whole ``Reconstructor.reconstruct`` (detect, crop, network,
decode; no export) with the shipped weights. Best wall time of ``--repeats`` after a warm-up.
Not a test: absolute numbers depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import machine  # noqa: E402
from bench_network import best_time  # noqa: E402

from engine.assets import ENV_VAR  # noqa: E402
from engine.detect import FAST_SIDE, choose_detector, detect_faces, shrink  # noqa: E402
from engine.image_io import IMAGE_SUFFIXES, load_image  # noqa: E402
from engine.reconstructor import Reconstructor  # noqa: E402

SHARED_ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
PHOTOS = Path(os.environ.get(ENV_VAR) or SHARED_ASSETS) / "photos"
CPU = torch.device("cpu")


def best_seconds(run, repeats: int) -> float:
    return best_time(run, CPU, repeats)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=str(PHOTOS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--detectors", default="faceboxes,dlib")
    args = parser.parse_args()

    detectors = [name.strip() for name in args.detectors.split(",") if name.strip()]
    for name in detectors:
        choose_detector(name)  # fail now if one cannot run
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images = {p.name: load_image(p) for p in photos}
    reconstructors = {name: Reconstructor(detector=name, device="cpu") for name in detectors}
    print(f"machine: {machine()}")
    print(f"{len(images)} photos from {args.photos}; best of {args.repeats} after a warm-up\n")

    header = f"{'photo':28s} {'size':>10s}"
    for name in detectors:
        header += f" | {name + ' fed':>14s} {'faces':>5s} {'detect':>9s} {'to mesh':>9s} {'share':>6s}"
    print(header)
    totals = {name: [0.0, 0.0] for name in detectors}
    for photo, image in images.items():
        height, width = image.shape[:2]
        row = f"{photo:28s} {f'{width}x{height}':>10s}"
        for name in detectors:
            fed = shrink(image, FAST_SIDE[name])[0].shape
            faces = len(detect_faces(image, name))
            detect_s = best_seconds(lambda: detect_faces(image, name), args.repeats)
            rec = reconstructors[name]
            mesh_s = best_seconds(lambda: rec.reconstruct(image), args.repeats) if faces else float("nan")
            totals[name][0] += detect_s
            totals[name][1] += mesh_s if faces else detect_s
            row += (f" | {f'{fed[1]}x{fed[0]}':>14s} {faces:5d} {detect_s * 1000:7.1f}ms "
                    f"{mesh_s * 1000:7.1f}ms {detect_s / mesh_s:6.0%}")
        print(row)
    print()
    for name, (detect_s, mesh_s) in totals.items():
        print(f"{name}: {detect_s / len(images) * 1000:.1f} ms per photo on average, "
              f"{detect_s / mesh_s:.0%} of the photo-to-mesh time")


if __name__ == "__main__":
    main()
