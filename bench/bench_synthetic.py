"""Throughput of the synthetic face generator (and of its parts).

    .venv/bin/python bench/bench_synthetic.py [--count 64] [--workers 2] [--sheet docs/synthetic_contact_sheet.png]
    .venv/bin/python bench/bench_synthetic.py --image-size 128 --map-size 64 \
        --synthetic-config '{"pitch_range": [-40, 40]}'     # the default model's training data

Prints machine info, per-stage milliseconds (single process), samples/s in one process and
with ``--workers`` processes, the rasteriser's time on the BFM mesh, the ground-truth
position map's time, and the derived-basis figures of the morphable model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PRNET_ASSETS", str(REPO.parent / "shared" / "assets"))


def machine_info() -> dict:
    import torch

    info = {"python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count()}
    try:
        info["affinity"] = len(os.sched_getaffinity(0))
        info["loadavg"] = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def best_of(fn, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64, help="samples per throughput run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--sheet", help="also write a 4x4 contact sheet (seeds 0..15) here")
    parser.add_argument("--image-size", type=int, default=256, help="rendered crop size")
    parser.add_argument("--map-size", type=int, default=None,
                        help="also time writing cache samples with maps averaged down to this size")
    parser.add_argument("--synthetic-config", default="{}", help="JSON SyntheticConfig overrides")
    parser.add_argument("--crossval", action="store_true",
                        help="also measure the expression basis by landmark cross-validation (slow)")
    args = parser.parse_args()

    import cv2

    from engine.render import rasterize
    from engine.uv_layout import load_uv_layout
    from training import synthetic
    from training.groundtruth import crop_groundtruth, uv_gather_for
    from training.morphable_model import expression_crossvalidation, load_bfm_from_assets

    print("machine:", json.dumps(machine_info()))
    config = synthetic.SyntheticConfig(**{**json.loads(args.synthetic_config),
                                          "image_size": args.image_size})
    print(f"generator config: image_size {config.image_size}, overrides {args.synthetic_config}")
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    start = time.perf_counter()
    model = load_bfm_from_assets()
    print(f"model: {model.name}, loaded in {time.perf_counter() - start:.1f} s")
    print("basis report:", json.dumps({k: v for k, v in model.info.items()
                                        if k.endswith("error") or k.startswith("paf")}))
    if args.crossval:
        print(f"expression basis, 4-fold landmark cross-validation rel. error: "
              f"{expression_crossvalidation():.4f}")

    # Rasteriser on the BFM meshes, face filling a 256 crop.
    layout = load_uv_layout()
    verts = model.mean.astype(np.float64) * [1, -1, 1]
    lo, hi = verts.min(0), verts.max(0)
    scale = 200.0 / (hi - lo)[:2].max()
    screen = (verts - (lo + hi) / 2) * scale + [128, 128, 0]
    noneck = screen[layout.bfm_vertex_ids]
    t_noneck = best_of(lambda: rasterize(noneck, layout.bfm_triangles, 256, 256))
    t_full = best_of(lambda: rasterize(screen, model.triangles, 256, 256))
    print(f"rasterize: no-neck mesh ({len(layout.bfm_triangles)} triangles) 256x256 "
          f"{t_noneck * 1e3:.1f} ms; full mesh ({len(model.triangles)} triangles) {t_full * 1e3:.1f} ms")
    gather = uv_gather_for(model)
    t_gt = best_of(lambda: crop_groundtruth(screen, model, gather=gather))
    print(f"ground-truth position map (precomputed UV raster): {t_gt * 1e3:.1f} ms")

    # Per-stage times in this process.
    synthetic.generate_sample(args.seed, config)  # warm up caches
    timings: dict = {}
    n_stage = max(8, args.count // 4)
    start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(n_stage):
        synthetic.generate_sample(args.seed + 1 + i, config, timings=timings)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    stages = {k: round(v / n_stage * 1e3, 1) for k, v in timings.items()}
    print(f"one process: {n_stage / elapsed:.1f} samples/s wall ({elapsed / n_stage * 1e3:.0f} ms/sample; "
          f"CPU {cpu / n_stage * 1e3:.0f} ms/sample, i.e. {2 * n_stage / cpu:.1f} samples/s on 2 idle "
          f"cores); stages ms: {json.dumps(stages)}")

    if args.workers > 1:
        seeds = list(range(args.seed + 100, args.seed + 100 + args.count))
        start = time.perf_counter()
        with synthetic.SyntheticPool(args.workers) as pool:
            pool.generate(seeds[:args.workers * 2], config)  # every worker warm
            warm = time.perf_counter()
            pool.generate(seeds, config)
            elapsed = time.perf_counter() - warm
        print(f"{args.workers} worker processes: {len(seeds) / elapsed:.1f} samples/s "
              f"({len(seeds)} samples in {elapsed:.1f} s; pool start-up + warm-up "
              f"{warm - start:.1f} s not included)")

    if args.map_size:
        import tempfile

        from training.datasets.synthetic_cache import synthetic_valid_mask, write_cached_sample

        valid = synthetic_valid_mask()
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            for i in range(n_stage):
                sample = synthetic.generate_sample(args.seed + 500 + i, config)
                write_cached_sample(Path(folder), i, sample.image, sample.position_map,
                                    sample.landmarks, sample.params, map_size=args.map_size,
                                    valid=valid)
            elapsed = time.perf_counter() - start
            size = sum(f.stat().st_size for f in Path(folder).iterdir()) / n_stage
        print(f"cache samples (render + map averaged to {args.map_size} + jpg/npz write), one "
              f"process: {n_stage / elapsed:.1f} samples/s, {size / 1024:.0f} KiB per sample")

    if args.sheet:
        samples = [synthetic.generate_sample(s) for s in range(16)]
        sheet = synthetic.contact_sheet(samples)
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(args.sheet, sheet[:, :, ::-1])
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
