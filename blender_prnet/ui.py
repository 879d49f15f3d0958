"""The panels (3D Viewport and Image Editor sidebars, tab PRNet) and the File > Import entries."""

from __future__ import annotations

import bpy

from . import runner, status_cache
from .operators.pick_face_box import FACE_BOX_PROPERTY, photo_of
from .rig_faces import is_face_object
from .rig_retarget import is_generated_rig, is_rigify_metarig
from .settings import engine_settings, get_preferences
from .status_view import draw_status


def warm_up_model(context) -> None:
    """Load the model in the background once everything is there (first draw of the panel)."""
    if status_cache.is_ready():
        runner.warm_up(engine_settings(get_preferences(context)))


def _retarget_button(layout, mode: str, text: str, icon: str) -> None:
    layout.operator("prnet.retarget_landmarks", text=text, icon=icon).mode = mode


def draw_rig_box(layout, context) -> None:
    obj = context.active_object
    box = layout.box()
    box.label(text="Rig", icon='ARMATURE_DATA')
    if obj is None or obj.type != 'ARMATURE':
        box.label(text="Select the face, then the armature (active)")
        if is_face_object(obj):
            box.operator("prnet.add_landmark_rig", icon='BONE_DATA')
        return
    if is_rigify_metarig(obj):
        box.label(text="Rigify metarig: Snap, then Generate Rig", icon='INFO')
        _retarget_button(box, 'SNAP', "Snap Bones to Landmarks", 'SNAP_ON')
        return
    if is_generated_rig(obj):
        box.label(text="Generated rig: Bind Face (or Constraints)", icon='INFO')
    box.operator("prnet.bind_face_to_rig", icon='MOD_ARMATURE')
    _retarget_button(box, 'CONSTRAINTS', "Constraints to Landmarks", 'CONSTRAINT_BONE')
    _retarget_button(box, 'SNAP', "Snap Bones to Landmarks", 'SNAP_ON')


class PRNET_PT_sidebar(bpy.types.Panel):
    bl_label = "PRNet Face"
    bl_idname = "PRNET_PT_sidebar"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "PRNet"

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        box.label(text="Status", icon='INFO')
        if draw_status(box, context):
            warm_up_model(context)

        column = layout.column(align=True)
        column.operator("prnet.reconstruct_from_photo", icon='USER', text="Reconstruct from Photo")
        column.operator("prnet.batch_import", icon='FILE_FOLDER', text="Batch Import")
        draw_rig_box(layout, context)
        layout.operator("prnet.import_livelink_csv", icon='ACTION', text="Import Live Link Face CSV")


class PRNET_PT_image_face_box(bpy.types.Panel):
    """When no face is found: drag the face box over the photo here."""

    bl_label = "PRNet Face Box"
    bl_idname = "PRNET_PT_image_face_box"
    bl_space_type = 'IMAGE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "PRNet"

    def draw(self, context):
        layout = self.layout
        image = photo_of(context)
        if image is None:
            layout.label(text="Open the photo here (Image > Open)")
            return
        layout.operator("prnet.pick_face_box", icon='SELECT_SET')
        box = image.get(FACE_BOX_PROPERTY)
        if box is not None and len(box) == 4:
            layout.label(text="Last box: " + " ".join(str(int(v)) for v in box))
            op = layout.operator("prnet.reconstruct_from_photo", text="Reconstruct in This Box",
                                 icon='USER')
            op.filepath = bpy.path.abspath(image.filepath)
            op.use_face_box = True
            op.face_box = tuple(int(v) for v in box)


def menu_import(self, context):
    self.layout.operator("prnet.reconstruct_from_photo", text="PRNet Face from Photo")
    self.layout.operator("prnet.batch_import", text="PRNet Faces from Photos (Batch)")
    self.layout.operator("prnet.import_livelink_csv", text="Live Link Face CSV (PRNet face)")
