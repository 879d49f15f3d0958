#!/usr/bin/env python3
"""Time the expression shapes: the ICT registration, the transfer onto a face, and what they
add to ``reconstruct()``.

    PRNET_ASSETS=../shared/assets OMP_NUM_THREADS=1 .venv/bin/python bench/bench_expressions.py \
        [--registration] [--repeats 5] [--weights W]

``--registration`` also times the registration from scratch (about a minute on one core; the
cache is neither read nor written) and prints its residual report. The rest uses the cached
registration: the transfer of all 57 expressions onto PRNet's mean face (one-time set-up and
per face), and ``Reconstructor.reconstruct()`` on the astronaut photo with ``expressions``
off (the default: no extra work) and on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import blender_helpers as H  # noqa: E402


def _median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registration", action="store_true",
                        help="also time the registration from scratch (~1 minute)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", help="weights file (default: the shipped default weights)")
    parser.add_argument("--detector", default="haar", choices=["auto", "haar", "dlib"])
    args = parser.parse_args()

    import numpy as np
    from skimage import data

    from engine.expressions import ExpressionTransfer
    from engine.ict_registration import load_registration, register
    from engine.reconstructor import Reconstructor
    from engine.uv_layout import load_uv_layout, sample_bilinear

    if args.registration:
        start = time.perf_counter()
        registration = register()
        print(f"registration from scratch: {time.perf_counter() - start:.1f} s")
        print(json.dumps(registration.report, indent=1))
    registration = load_registration()

    start = time.perf_counter()
    transfer = ExpressionTransfer(registration)
    print(f"transfer set-up (factorisation, once per process): {time.perf_counter() - start:.2f} s")
    face = sample_bilinear(H.mean_face_crop_map().astype(np.float64), load_uv_layout().bfm_map_pixels)
    seconds = _median_seconds(lambda: transfer.displacements(face, "image"), args.repeats)
    print(f"transfer of 57 expressions onto one face: {seconds:.2f} s (median of {args.repeats})")

    photo = data.astronaut()
    plain = Reconstructor(weights=args.weights, device="cpu", detector=args.detector)
    box = plain.detect(photo)[0]
    with_shapes = Reconstructor(weights=args.weights, device="cpu", detector=args.detector,
                                expressions=True)
    with_shapes.reconstruct(photo, bbox=box)  # warm: registration, factorisation
    off = _median_seconds(lambda: plain.reconstruct(photo, bbox=box), args.repeats)
    on = _median_seconds(lambda: with_shapes.reconstruct(photo, bbox=box), args.repeats)
    print(f"reconstruct(), given box: expressions off {off:.3f} s, on {on:.3f} s "
          f"(median of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
