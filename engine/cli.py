"""``prnet``: the command line, a thin layer over :class:`engine.reconstructor.Reconstructor`.

    prnet reconstruct IMAGES... -o DIR [--bbox X0 Y0 X1 Y1] [--topology bfm|grid]
                     [--device auto|cpu|cuda] [--weights PATH] [--texture-size N] [--all-faces]
                     [--detector auto|faceboxes|dlib|haar]
    prnet demo -o DIR                 # the scikit-image astronaut, out of the box
    prnet convert-tf CKPT_PREFIX OUT.safetensors
    prnet fetch-assets [--target DIR]
    prnet info

Errors are one line (no traceback); the exit code is 0 when everything worked,
1 when any image or the setup failed, 2 for a wrong command line, 128 + N when signal N
(SIGINT, SIGTERM) stopped a batch (after its summary; see :mod:`engine.batch`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .errors import PRNetError

# The CLI's way to give a face box, added to "no face found" errors.
BBOX_HINT = "pass the face box with --bbox X0 Y0 X1 Y1 if there is one"
DETECTOR_HELP = ("face detector: auto = FaceBoxes when its weights are found (prnet fetch-assets), "
                 "else dlib, else OpenCV's Haar cascades")


def _error(message: str) -> None:
    print(f"prnet: error: {message}", file=sys.stderr)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prnet", description="PRNet face reconstruction")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_engine_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", required=True, help="output folder")
        p.add_argument("--topology", choices=["bfm", "grid"], default="bfm",
                       help="mesh: BFM topology (38,365 vertices) or the 43,867-point UV grid")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
        p.add_argument("--weights", help="a .safetensors weights file (default: the shipped weights)")
        p.add_argument("--texture-size", type=int, default=256, metavar="N")
        p.add_argument("--detector", choices=["auto", "faceboxes", "dlib", "haar"], default="auto",
                       help=DETECTOR_HELP)
        p.add_argument("--assets", help="face-model asset folder (default: $PRNET_ASSETS or the cache)")
        p.add_argument("--formats", default="obj,ply,npz,json",
                       help="comma-separated subset of obj,ply,npz,json")
        p.add_argument("--expressions", action="store_true",
                       help="add ICT-FaceKit's 57 ARKit-style expression shapes to the .npz "
                            "(needs the ict_facekit asset; a few seconds per face)")
        p.add_argument("--no-smooth", action="store_true",
                       help="keep a coarse network map's plain bilinear upsampling (a faceted "
                            "surface; default: smoothed, landmarks as predicted)")

    rec = sub.add_parser("reconstruct", help="reconstruct faces from photos")
    rec.add_argument("images", nargs="+", help="image files or folders of images")
    add_engine_options(rec)
    rec.add_argument("--bbox", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"),
                     help="face box in pixels instead of detection")
    rec.add_argument("--all-faces", action="store_true", help="every detected face, not the largest")

    demo = sub.add_parser("demo", help="reconstruct scikit-image's public-domain astronaut photo")
    add_engine_options(demo)

    conv = sub.add_parser("convert-tf", help="convert an official TensorFlow checkpoint")
    conv.add_argument("checkpoint", help="checkpoint prefix (the path without .index)")
    conv.add_argument("output", help="output .safetensors file")

    fetch = sub.add_parser("fetch-assets", help="download the face-model assets into the user cache")
    fetch.add_argument("--target", help="folder to fill (default: the user cache)")

    sub.add_parser("info", help="show where weights and assets are found and the device")
    return parser


def _make_reconstructor(args: argparse.Namespace):
    from .reconstructor import Reconstructor

    return Reconstructor(weights=args.weights, device=args.device, topology=args.topology,
                         texture_size=args.texture_size, detector=args.detector,
                         assets_dir=args.assets, expressions=args.expressions,
                         smooth=not args.no_smooth)


def _demo_image():
    try:
        from skimage import data
    except ImportError:
        raise PRNetError("the demo photo comes from scikit-image; "
                         "pip install scikit-image (or run prnet reconstruct on your own photo)") from None
    return data.astronaut()


def _info(args: argparse.Namespace) -> int:
    import torch

    from . import assets
    from .detect import choose_detector
    from .reconstructor import default_weights_path

    weights = default_weights_path()
    print(f"default weights: {weights} ({'present' if weights.is_file() else 'missing'})")
    print(f"asset folders searched: {', '.join(str(p) for p in assets.candidate_dirs())}")
    problems = assets.verify_assets(assets.ENGINE_ASSETS.values())
    print("engine assets: " + ("ok" if not problems else "; ".join(problems)))
    choice = choose_detector("auto")
    print(f"face detector (auto): {choice.name}"
          + (f", weights {choice.weights}" if choice.weights else f" ({choice.note})"))
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    return 0 if not problems else 1


def _protect_box_numbers(argv: list[str]) -> list[str]:
    """argparse takes "-1e9" or "-inf" after --bbox for an option; with a leading space it is
    read as the number it is."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--bbox":
            for j in range(i + 1, min(i + 5, len(argv))):
                if argv[j].startswith("-"):
                    try:
                        float(argv[j])
                    except ValueError:
                        continue
                    argv[j] = " " + argv[j]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    from .batch import expand_inputs, run_reconstruct

    parser = _build_parser()
    args = parser.parse_args(_protect_box_numbers(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "reconstruct":
            paths, folder_failures = expand_inputs(args.images)
            if not paths:
                for _, message in folder_failures:
                    _error(message)
                if not folder_failures:
                    _error(f"no images found in {' '.join(args.images)}")
                return 1
            return run_reconstruct(args, [(str(p), str(p)) for p in paths], _make_reconstructor,
                                   folder_failures, BBOX_HINT)
        if args.command == "demo":
            args.bbox = None
            return run_reconstruct(args, [("astronaut.png", _demo_image())], _make_reconstructor)
        if args.command == "convert-tf":
            from .convert import convert_tf_checkpoint

            convert_tf_checkpoint(args.checkpoint, args.output)
            print(f"wrote {args.output}")
            return 0
        if args.command == "fetch-assets":
            from .assets import fetch_assets

            target = fetch_assets(target=args.target, progress=lambda name: print(f"fetching {name}"))
            print(f"assets ready in {target}")
            return 0
        if args.command == "info":
            return _info(args)
    except PRNetError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
