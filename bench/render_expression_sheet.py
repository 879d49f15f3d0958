#!/usr/bin/env python3
"""Re-make docs/expression_shape_keys.png: one face, eight expression shape keys at weight 1.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/render_expression_sheet.py [--weights W]

The photo is scikit-image's astronaut (public domain, as ``prnet demo`` uses), imported with
the add-on's Expression Shape Keys on (frontal pose) and rendered with Workbench in a plain
clay colour, neutral first, then jawOpen, eyeBlink_L, eyeBlink_R, mouthSmile_L,
mouthSmile_R, browInnerUp, mouthPucker and cheekPuff (ICT's names; the keys carry ARKit's).
Re-run it when new default weights land: the geometry is the network's prediction.
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

# (label, shape key)
PANELS = (("neutral", None), ("jawOpen", "jawOpen"), ("eyeBlink_L", "eyeBlinkLeft"),
          ("eyeBlink_R", "eyeBlinkRight"), ("mouthSmile_L", "mouthSmileLeft"),
          ("mouthSmile_R", "mouthSmileRight"), ("browInnerUp", "browInnerUp"),
          ("mouthPucker", "mouthPucker"), ("cheekPuff", "cheekPuff"))


def clay_render_settings() -> None:
    import bpy

    shading = bpy.context.scene.display.shading
    shading.light = 'STUDIO'
    shading.color_type = 'SINGLE'
    shading.single_color = H.CLAY
    shading.show_cavity = True
    shading.cavity_type = 'WORLD'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", help="default: scikit-image's public-domain astronaut photo")
    parser.add_argument("--weights", help="weights file (default: the engine's default weights)")
    parser.add_argument("--mean-face-standin", action="store_true",
                        help="PRNet's canonical mean face instead of the network's geometry "
                             "(to judge the shape keys apart from the weights)")
    # dlib also boxes the astronaut's mission patch, larger than her face (see render_addon_demo).
    parser.add_argument("--detector", default="haar", choices=["auto", "haar", "dlib"])
    parser.add_argument("--orbit", type=float, default=20.0,
                        help="camera swing from the front, degrees (depth reads better)")
    parser.add_argument("--output", default=str(REPO / "docs" / "expression_shape_keys.png"))
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()

    import bpy
    from PIL import Image, ImageDraw

    work = Path(tempfile.mkdtemp(prefix="prnet_expressions_"))
    demo = H.import_demo_face(work, args.photo, args.weights, args.mean_face_standin,
                              args.detector, pose='FRONTAL', landmarks='NONE',
                              expression_shape_keys=True)
    face = demo.face
    if face.data.shape_keys is None:
        print("the import made no shape keys (see the warnings above)")
        return 1
    blocks = face.data.shape_keys.key_blocks

    H.setup_front_render(face, resolution=args.size, orbit_degrees=args.orbit)
    clay_render_settings()
    panels = []
    for label, key in PANELS:
        for block in list(blocks)[1:]:
            block.value = 0.0
        if key is not None:
            blocks[key].value = 1.0
        bpy.context.view_layer.update()
        image = Image.open(H.render_to(work / f"{label}.png")).convert("RGB")
        ImageDraw.Draw(image).text((8, 8), label + (f"  ({key})" if key and key != label else ""),
                                   fill=(240, 240, 240))
        panels.append(image)

    columns = 3
    rows = (len(panels) + columns - 1) // columns
    canvas = Image.new("RGB", (args.size * columns, args.size * rows + 28), (32, 32, 32))
    for i, panel in enumerate(panels):
        canvas.paste(panel, ((i % columns) * args.size, (i // columns) * args.size))
    caption = ("astronaut (public domain) -> PRNet Face add-on, ICT-FaceKit expressions as shape "
               "keys at weight 1; "
               + ("GEOMETRY: mean-face stand-in" if demo.standin
                  else f"weights {Path(demo.weights).name}")
               + f"; Blender {bpy.app.version_string} Workbench, clay")
    H.save_with_caption(canvas, caption, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
