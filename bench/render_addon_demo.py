#!/usr/bin/env python3
"""Re-make docs/blender_render.png: a photo imported with the add-on, rendered with Workbench.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/render_addon_demo.py [--weights W]

The photo is scikit-image's astronaut (Eileen Collins, NASA, public domain), so
the picture can ship in the docs; the test photos in shared/assets may not.
Left: the photo; then the imported mesh textured, from the front and turned 45 degrees;
below, the same two views in clay (one matte colour: the surface itself). With the trained default weights (engine/default_weights/) or --weights
the geometry is the network's prediction. Without them, --mean-face-standin puts
PRNet's canonical mean face where the network's output would be (the texture is
still sampled from the photo through it) and the picture says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("PRNET_ASSETS", str(REPO.parent / "shared" / "assets"))
import blender_helpers as H  # noqa: E402  (sets BLENDER_USER_RESOURCES before bpy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", help="default: scikit-image's public-domain astronaut photo")
    parser.add_argument("--weights", help="weights file (default: the engine's default weights)")
    parser.add_argument("--mean-face-standin", action="store_true",
                        help="use the canonical mean face instead of the network's geometry")
    # dlib's pass also returns a low-score box on the astronaut's mission patch, larger than her
    # face, so "largest face" picks the patch; Haar finds only the face. (Reported to the engine.)
    parser.add_argument("--detector", default="auto", choices=["auto", "haar", "dlib"])
    parser.add_argument("--output", default=str(REPO / "docs" / "blender_render.png"))
    parser.add_argument("--size", type=int, default=384)
    args = parser.parse_args()

    import bpy
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="prnet_demo_"))
    photo_label = Path(args.photo).name if args.photo else "astronaut (public domain)"
    demo = H.import_demo_face(work, args.photo, args.weights, args.mean_face_standin,
                              args.detector, texture_size='1024')
    face, standin, args.photo = demo.face, demo.standin, demo.photo

    panels = []
    with tempfile.TemporaryDirectory() as tmp:
        for clay in (False, True):
            for orbit in (0.0, 45.0):
                camera = H.setup_front_render(face, resolution=args.size, orbit_degrees=orbit,
                                              clay=clay)
                path = Path(tmp) / f"view_{orbit:.0f}_{int(clay)}.png"
                panels.append(Image.open(H.render_to(path)).convert("RGB"))
                bpy.data.objects.remove(camera, do_unlink=True)
    photo = Image.open(args.photo).convert("RGB")
    photo.thumbnail((args.size, args.size))
    canvas = Image.new("RGB", (args.size * 3, args.size * 2 + 28), (32, 32, 32))
    canvas.paste(photo, ((args.size - photo.width) // 2, (args.size - photo.height) // 2))
    for i, panel in enumerate(panels):
        canvas.paste(panel, (args.size * (1 + i % 2), args.size * (i // 2)))
    caption = (f"{photo_label} -> PRNet Face add-on, Blender {bpy.app.version_string} "
               "Workbench")
    if standin:
        caption += " | GEOMETRY: mean-face stand-in (no trained weights yet)"
    H.save_with_caption(canvas, caption, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
