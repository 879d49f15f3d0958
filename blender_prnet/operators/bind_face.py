"""Bind a PRNet face to the active armature with weights computed over the face's surface."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..errors import AddonError
from ..rig_bind import bind_face
from ..rig_faces import find_face
from .armature_poll import ActiveArmaturePoll


class PRNET_OT_bind_face_to_rig(ActiveArmaturePoll, bpy.types.Operator):
    """Parent the PRNet face to the active armature with weights from distances over the face
to each deform bone's landmarks (Rigify's generated rig or the generic landmark rig)"""

    bl_idname = "prnet.bind_face_to_rig"
    bl_label = "Bind Face to Rig"
    bl_options = {'REGISTER', 'UNDO'}

    face: StringProperty(name="Face", description="The PRNet face object; empty: the selected one")
    rest_bone: StringProperty(
        name="Rest Bone",
        description="The bone that keeps what is far from every landmark (forehead, temples); "
                    "empty: DEF-spine.006 (Rigify) or head")
    jaw_bone: StringProperty(
        name="Jaw Bone",
        description="The bone that carries the lower face between the landmarks; "
                    "empty: DEF-jaw (Rigify) or jaw")

    def execute(self, context):
        armature = context.active_object
        try:
            face = find_face(context, self.face)
            report = bind_face(context, face, armature, self.rest_bone, self.jaw_bone)
        except AddonError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        if report.left_out:
            self.report({'WARNING'}, f"left out {len(report.left_out)} deform bone(s) that are not at "
                                     "rest in this pose (they would deform the face before any "
                                     "animation): " + ", ".join(report.left_out[:6]))
        self.report({'INFO'}, f"Bound '{face.name}' to {report.bones} bone(s) of '{armature.name}' "
                              f"({report.weighted_share:.1%} of vertices weighted, "
                              f"{report.seconds:.1f} s)")
        return {'FINISHED'}
