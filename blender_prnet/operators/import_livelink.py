"""File > Import > Live Link Face CSV: keyframe a take onto the active face's shape keys."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .. import livelink, shape_keys


def scene_frame_rate(scene) -> float:
    return scene.render.fps / scene.render.fps_base


class PRNET_OT_import_livelink_csv(bpy.types.Operator, ImportHelper):
    """Keyframe a Live Link Face CSV take onto the active object's ARKit-named shape keys
(names matched case-insensitively), at the take's timecodes and frame rate"""

    bl_idname = "prnet.import_livelink_csv"
    bl_label = "Import Live Link Face CSV"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})
    frame_rate: FloatProperty(
        name="Take Frame Rate", default=0.0, min=0.0, max=240.0,
        description="Frames per second of the take's timecode; 0 reads it from the file "
                    "(60 if the take is shorter than a second)")
    set_scene_frame_rate: BoolProperty(
        name="Set Scene Frame Rate", default=True,
        description="Give the scene the take's frame rate (one keyframe per frame); "
                    "off: keep the scene's rate and place the keys by time")
    start_frame: IntProperty(name="Start Frame", default=1,
                             description="Scene frame of the take's first row")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == 'MESH' and obj.data.shape_keys is not None

    def invoke(self, context, event):
        if not self.properties.is_property_set("start_frame"):
            self.start_frame = context.scene.frame_start
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        try:
            take = livelink.read_take(path, self.frame_rate or None)
        except livelink.LiveLinkError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        scene = context.scene
        if self.set_scene_frame_rate:
            scene.render.fps, scene.render.fps_base = _fps_and_base(take.frame_rate)
        obj = context.active_object
        keyed, unmatched = shape_keys.keyframe_take(obj, take, float(self.start_frame),
                                                    scene_frame_rate(scene))
        if not keyed:
            self.report({'ERROR'}, f"{os.path.basename(path)}: none of its columns names a shape "
                                   f"key of '{obj.name}'; import the face with Expression Shape Keys")
            return {'CANCELLED'}
        last = self.start_frame + take.frames[-1] * scene_frame_rate(scene) / take.frame_rate
        scene.frame_start = min(scene.frame_start, self.start_frame)
        scene.frame_end = max(scene.frame_end, int(last + 0.999))
        rate = f"{take.frame_rate:g} fps" + (" (assumed: the take is under a second; set "
                                             "Take Frame Rate)" if take.rate_source == "assumed" else "")
        shapes = [c for c in unmatched if not c.lower().startswith(("head", "lefteye", "righteye"))]
        if shapes:
            self.report({'WARNING'}, f"{len(shapes)} column(s) without a shape key: "
                                     + ", ".join(shapes[:6]) + ("..." if len(shapes) > 6 else ""))
        self.report({'INFO'}, f"Keyed {len(keyed)} shape keys of '{obj.name}' over "
                              f"{len(take.frames)} rows from {take.start_timecode} at {rate}")
        return {'FINISHED'}


def _fps_and_base(rate: float) -> tuple[int, float]:
    """Blender's integer fps and fps_base for a rate (29.97 -> 30 / 1.001)."""
    whole = max(1, round(rate))
    return whole, whole / rate

