#!/usr/bin/env python3
"""Re-make docs/blender_jaw_<rig>.png: a face bound to a rig, jaw closed and opened, in clay.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/render_rig_demo.py [--rig rigify|generic]
        [--weights W] [--mean-face-standin] [--angle 15]

The photo is scikit-image's astronaut (public domain). The face is imported with
the add-on (default weights unless --weights), then

- ``rigify``: Rigify's Human metarig, Snap Bones (Align Face on), Generate Rig,
  Bind Face to Rig on the generated rig, and ``jaw_master`` turned by --angle;
- ``generic``: Add Landmark Rig (68 landmark bones under a head bone and a jaw
  hinge, bound), and ``jaw`` turned by --angle.

Top row: front view, bottom row: three-quarter view; left: rest, right: jaw open.
Workbench with a single clay colour, so the surface itself (not the texture) shows.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("PRNET_ASSETS", str(REPO.parent / "shared" / "assets"))
import blender_helpers as H  # noqa: E402  (sets BLENDER_USER_RESOURCES before bpy)



def rig_and_jaw(face, kind: str):
    """Bind ``face`` to a rig; returns (rig, the bone that opens the jaw)."""
    import bpy
    import addon_utils

    if kind == "generic":
        assert bpy.ops.prnet.add_landmark_rig('EXEC_DEFAULT') == {'FINISHED'}
        return bpy.context.view_layer.objects.active, "jaw"
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.view_layer.objects.active
    face.select_set(True)
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE',
                                            mode='SNAP') == {'FINISHED'}
    assert bpy.ops.pose.rigify_generate() == {'FINISHED'}
    rig = next(o for o in bpy.data.objects if o.type == 'ARMATURE' and o.data.get("rig_id"))
    metarig.hide_set(True)
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj in (face, rig))
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.prnet.bind_face_to_rig('EXEC_DEFAULT') == {'FINISHED'}
    return rig, "jaw_master"


def set_jaw(rig, bone: str, degrees: float) -> None:
    """Turn the jaw bone about its X axis; the sign that moves the chin down opens the mouth."""
    import bpy

    pose_bone = rig.pose.bones[bone]
    pose_bone.rotation_mode = 'XYZ'
    chin = "chin_01" if "chin_01" in rig.pose.bones else "DEF-chin"
    heights = []
    for sign in (1.0, -1.0):
        pose_bone.rotation_euler = (sign * math.radians(abs(degrees)), 0.0, 0.0)
        bpy.context.view_layer.update()
        heights.append((rig.matrix_world @ rig.pose.bones[chin].head).z)
    sign = 1.0 if heights[0] < heights[1] else -1.0
    pose_bone.rotation_euler = (sign * math.radians(degrees), 0.0, 0.0)
    bpy.context.view_layer.update()


def clay_camera(face, orbit: float, size: int):
    import bpy

    camera = H.setup_front_render(face, resolution=size, orbit_degrees=orbit)
    camera.data.ortho_scale *= 1.25  # room for the open jaw
    camera.location.z -= 0.1 * camera.data.ortho_scale
    shading = bpy.context.scene.display.shading
    shading.color_type = 'SINGLE'
    shading.single_color = H.CLAY
    shading.show_cavity = False
    return camera


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rig", default="rigify", choices=["rigify", "generic"])
    parser.add_argument("--photo", help="default: scikit-image's public-domain astronaut photo")
    parser.add_argument("--weights", help="weights file (default: the engine's default weights)")
    parser.add_argument("--mean-face-standin", action="store_true",
                        help="use the canonical mean face instead of the network's geometry")
    parser.add_argument("--detector", default="haar", choices=["auto", "haar", "dlib"],
                        help="haar: dlib also boxes the astronaut's mission patch (see render_addon_demo)")
    parser.add_argument("--angle", type=float, default=15.0, help="jaw opening in degrees")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--output", help="default: docs/blender_jaw_<rig>.png")
    args = parser.parse_args()

    import bpy
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="prnet_rig_demo_"))
    demo = H.import_demo_face(work, args.photo, args.weights, args.mean_face_standin, args.detector,
                              texture_size='512', landmarks='NONE')
    face = demo.face
    geometry = "mean-face stand-in" if demo.standin else Path(demo.weights).name
    rig, jaw = rig_and_jaw(face, args.rig)
    tiles = {}
    for orbit in (0.0, 50.0):
        camera = clay_camera(face, orbit, args.size)
        for degrees in (0.0, args.angle):
            set_jaw(rig, jaw, degrees)
            path = H.render_to(work / f"view_{orbit:.0f}_{degrees:.0f}.png")
            tiles[orbit, degrees] = Image.open(path).convert("RGB")
        set_jaw(rig, jaw, 0.0)
        bpy.data.objects.remove(camera, do_unlink=True)
    canvas = Image.new("RGB", (args.size * 2, args.size * 2 + 28), (32, 32, 32))
    for row, orbit in enumerate((0.0, 50.0)):
        for column, degrees in enumerate((0.0, args.angle)):
            canvas.paste(tiles[orbit, degrees], (args.size * column, args.size * row))
    caption = (f"astronaut -> PRNet Face, {args.rig} rig, Bind Face to Rig; '{jaw}' 0 / "
               f"{args.angle:g} deg | geometry: {geometry}")
    H.save_with_caption(canvas, caption, args.output or REPO / "docs" / f"blender_jaw_{args.rig}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
