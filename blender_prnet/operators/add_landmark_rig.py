"""Add the generic landmark rig (one bone per landmark, head and jaw) on the active face."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty

from ..errors import AddonError
from ..importer import select_only
from ..rig_bind import bind_face
from ..rig_faces import is_face_object, landmarks_world
from ..rig_landmark_armature import build_landmark_armature


class PRNET_OT_add_landmark_rig(bpy.types.Operator):
    """Add an armature with one bone per landmark (the Generic 68-point preset's bones) under a
head bone and a jaw hinge, and bind the face to it"""

    bl_idname = "prnet.add_landmark_rig"
    bl_label = "Add Landmark Rig"
    bl_options = {'REGISTER', 'UNDO'}

    bone_length: FloatProperty(name="Bone Length", default=0.01, min=0.0001, unit='LENGTH')
    bind: BoolProperty(name="Bind Face", default=True,
                       description="Bind the face to the new rig (PRNet's weights)")

    @classmethod
    def poll(cls, context):
        return is_face_object(context.active_object)

    def execute(self, context):
        face = context.active_object
        collection = face.users_collection[0] if face.users_collection else context.collection
        rig = build_landmark_armature(context, f"{face.name}_rig", landmarks_world(face),
                                      collection, self.bone_length)
        message = f"Added '{rig.name}' with {len(rig.data.bones)} bones"
        if self.bind:
            try:
                report = bind_face(context, face, rig)
            except AddonError as exc:
                data = rig.data
                bpy.data.objects.remove(rig, do_unlink=True)
                bpy.data.armatures.remove(data)
                self.report({'ERROR'}, str(exc))
                return {'CANCELLED'}
            message += f", bound '{face.name}' ({report.seconds:.1f} s)"
        select_only(context, [rig])
        self.report({'INFO'}, message)
        return {'FINISHED'}
