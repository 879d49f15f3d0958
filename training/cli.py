"""Command lines: ``prnet-train`` and ``prnet-eval``.

Errors the user can act on (:class:`engine.errors.PRNetError`) are printed as one
line without a traceback and give exit code 1; a bad command line gives 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Sequence

from engine.errors import PRNetError

# Set before torch loads OpenMP: waiting threads sleep instead of spinning. On a machine shared
# with other work a spinning thread holds the core its preempted sibling needs; measured here,
# a 2-thread training run went from 3-10 to 12-22 images/s beside other jobs. No effect alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _json_arg(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PRNetError(f"--synthetic-config is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise PRNetError("--synthetic-config must be a JSON object")
    return value


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prnet-train",
        description="Train ResFCN256 (PRNet) from a JSON config, or render a synthetic cache. "
                    "Multi-GPU: torchrun --nproc_per_node=N -m training.train CONFIG")
    parser.add_argument("config", nargs="?",
                        help="training config (JSON file, or a shipped name: tiny, default)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pt")
    parser.add_argument("--output-dir", help="override the config's output_dir")
    parser.add_argument("--steps", type=int, help="override train.steps (total)")
    parser.add_argument("--device", help="override train.device (auto, cpu, cuda, cuda:N)")
    parser.add_argument("--workers", type=int, help="override train.workers (data loader processes)")
    parser.add_argument("--stop-after", type=int, metavar="STEP",
                        help="stop this session at STEP (checkpoint, no export); resume later")
    parser.add_argument("--no-export", action="store_true", help="do not write weights.safetensors")
    parser.add_argument("--export-checkpoint", nargs=2, metavar=("CHECKPOINT", "OUT"),
                        help="write a weights file from a training checkpoint (mid-run) and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cache = parser.add_argument_group("synthetic cache (instead of training)")
    cache.add_argument("--make-cache", metavar="FOLDER",
                       help="render synthetic samples into FOLDER (for data.source synthetic_cache)")
    cache.add_argument("--count", type=int, help="number of samples to render")
    cache.add_argument("--base-seed", type=int, help="seed of the first sample (default: the "
                       "config's data.base_seed, else 0)")
    cache.add_argument("--image-format", choices=("jpg", "png"), default="jpg")
    cache.add_argument("--map-size", type=int, help="store position maps at this size (default: "
                       "the config model's output size, else 256)")
    cache.add_argument("--synthetic-config", help="JSON object of SyntheticConfig overrides")
    return parser


def train_main(argv: Sequence[str] | None = None) -> int:
    parser = train_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from .train import load_config, train

        if args.export_checkpoint:
            from .train.export import export_checkpoint

            print(f"weights: {export_checkpoint(*args.export_checkpoint)}")
            return 0
        config = load_config(args.config) if args.config else None
        if args.make_cache:
            from .datasets import make_synthetic_cache

            if not args.count:
                parser.error("--make-cache needs --count N")
            base_seed = args.base_seed if args.base_seed is not None else (
                config.data.base_seed if config else 0)
            overrides = _json_arg(args.synthetic_config)
            if overrides is None and config is not None:
                overrides = config.data.synthetic
            map_size = args.map_size or (int(config.model_config.output_size) if config else 256)
            folder = make_synthetic_cache(args.make_cache, args.count, base_seed, overrides,
                                          args.image_format, workers=args.workers or 0,
                                          progress=not args.no_progress, map_size=map_size)
            print(f"wrote {args.count} samples (seeds {base_seed}..{base_seed + args.count - 1}) "
                  f"to {folder}")
            return 0
        if config is None:
            parser.error("give a CONFIG (or --make-cache FOLDER --count N)")
        overrides = {}
        if args.output_dir:
            overrides["output_dir"] = args.output_dir
        if args.steps is not None:
            overrides["train.steps"] = args.steps
        if args.device:
            overrides["train.device"] = args.device
        if args.workers is not None:
            overrides["train.workers"] = args.workers
        if overrides:
            config = config.with_overrides(**overrides)
        result = train(config, resume=args.resume, progress=not args.no_progress,
                       stop_after=args.stop_after, export=not args.no_export)
    except PRNetError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; continue with --resume (from the last checkpoint)")
    if result.weights is not None:
        print(f"weights: {result.weights}")
    return 0


def eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prnet-eval",
        description="Evaluate a weights file (.safetensors, or a training checkpoint .pt) on an "
                    "AFLW2000-3D-style folder and/or held-out synthetic faces, beside the "
                    "mean-face baseline. Writes results.json, per_face.csv and CED PNGs.")
    parser.add_argument("weights", nargs="?", help="weights file (omit with --baseline-only)")
    parser.add_argument("--aflw2000", metavar="FOLDER", help="folder of NAME.jpg + NAME.mat "
                        "(pt3d_68, Pose_Para)")
    parser.add_argument("--photos", metavar="FOLDER", help="folder of photos with 2D 68-point "
                        "annotations (NAME.pts or NAME.ljson beside each image): 2D NME only")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also evaluate on N held-out synthetic faces")
    parser.add_argument("--synthetic-seed", type=int, default=None,
                        help="seed of the first synthetic test face (default 1000000000)")
    parser.add_argument("--synthetic-config", help="JSON object of SyntheticConfig overrides")
    parser.add_argument("--output", "-o", default="eval", help="output folder (default ./eval)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, help="evaluate only the first N images of the folder")
    parser.add_argument("--no-baseline", action="store_true", help="skip the mean-face baseline")
    parser.add_argument("--baseline-only", action="store_true", help="score only the baseline")
    parser.add_argument("--no-two-pass", action="store_true",
                        help="one crop from the face box (default: re-crop from the first "
                             "prediction's landmarks, as the product does)")
    parser.add_argument("--no-upright", action="store_true",
                        help="keep the second crop axis-aligned (default: turned by the first "
                             "prediction's eye-line roll, as the product does)")
    parser.add_argument("--face-box", default="landmarks",
                        choices=("landmarks", "auto", "faceboxes", "dlib", "haar"),
                        help="face box given to the model on photos and AFLW2000-3D: the tight "
                             "box of the annotated landmarks (default), or a detector's box")
    parser.add_argument("--flip", action="store_true",
                        help="average with the mirrored crop's prediction")
    parser.add_argument("--no-smooth", action="store_true",
                        help="keep a coarse map's plain bilinear upsampling (default: smoothed, "
                             "as the product does)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def eval_main(argv: Sequence[str] | None = None) -> int:
    parser = eval_parser()
    args = parser.parse_args(argv)
    if not args.weights and not args.baseline_only:
        parser.error("give a WEIGHTS file (or --baseline-only)")
    if args.baseline_only and args.no_baseline:
        parser.error("--baseline-only and --no-baseline exclude each other")
    try:
        from .evaluate import EVAL_BASE_SEED, evaluate, format_summary

        results = evaluate(None if args.baseline_only else args.weights, args.output,
                           aflw2000=args.aflw2000, synthetic=args.synthetic, photos=args.photos,
                           synthetic_seed=(EVAL_BASE_SEED if args.synthetic_seed is None
                                           else args.synthetic_seed),
                           synthetic_config=_json_arg(args.synthetic_config), device=args.device,
                           baseline=not args.no_baseline, limit=args.limit,
                           progress=not args.no_progress, two_pass=not args.no_two_pass,
                           flip=args.flip, face_box=args.face_box, smooth=not args.no_smooth,
                           upright=not args.no_upright)
    except PRNetError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    for result in results:
        print(format_summary(result))
    print(f"results in {args.output}/")
    return 0


if __name__ == "__main__":
    sys.exit(train_main())
