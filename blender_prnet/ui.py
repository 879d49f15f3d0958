"""The sidebar panel (View3D > N > PRNet) and the File > Import entries."""

from __future__ import annotations

import bpy

from . import status_cache


def draw_status(layout, context, full: bool = False) -> bool:
    """What the add-on needs and how to fix what is missing; True if all is ready."""
    items = status_cache.status()
    problems = [item for item in items if not item.ok]
    column = layout.column(align=True)
    if not problems:
        column.label(text="Ready", icon='CHECKMARK')
        if full:
            for item in items:
                column.label(text=f"{item.name}: {item.detail}", icon='DOT')
        return True
    for item in (items if full else problems):
        column.label(text=f"{item.name}: {item.detail}", icon='CHECKMARK' if item.ok else 'ERROR')
        if not item.ok and item.fix:
            for line in _wrap(item.fix, 60):
                column.label(text="    " + line)
    row = layout.row(align=True)
    row.operator("prnet.refresh_status", icon='FILE_REFRESH')
    if any(item.name in {"torch", "cv2", "scipy", "PIL", "safetensors"} for item in problems):
        row.operator("prnet.install_dependencies", icon='IMPORT')
    elif any(item.name == "assets" for item in problems):
        row.operator("prnet.fetch_assets", icon='URL')
    return False


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


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
        draw_status(box, context)

        column = layout.column(align=True)
        column.operator("prnet.reconstruct_from_photo", icon='USER', text="Reconstruct from Photo")
        column.operator("prnet.batch_import", icon='FILE_FOLDER', text="Batch Import")

        obj = context.active_object
        box = layout.box()
        box.label(text="Rig", icon='ARMATURE_DATA')
        if obj is not None and obj.type == 'ARMATURE':
            op = box.operator("prnet.retarget_landmarks", text="Constraints to Landmarks",
                              icon='CONSTRAINT_BONE')
            op.mode = 'CONSTRAINTS'
            op = box.operator("prnet.retarget_landmarks", text="Snap Bones to Landmarks",
                              icon='SNAP_ON')
            op.mode = 'SNAP'
        else:
            box.label(text="Select the face, then the armature (active)")
        box.operator("prnet.add_landmark_rig", icon='BONE_DATA')
        layout.operator("prnet.import_livelink_csv", icon='ACTION', text="Import Live Link Face CSV")


def menu_import(self, context):
    self.layout.operator("prnet.reconstruct_from_photo", text="PRNet Face from Photo")
    self.layout.operator("prnet.batch_import", text="PRNet Faces from Photos (Batch)")
    self.layout.operator("prnet.import_livelink_csv", text="Live Link Face CSV (PRNet face)")


classes = (PRNET_PT_sidebar,)
