"""Put the active armature's face bones on a PRNet face's landmarks (Snap or Constraints)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from .. import retarget
from ..errors import AddonError, RigError
from ..rig_bind import bind_face, check_bindable
from ..rig_faces import find_face
from ..rig_retarget import retarget_face
from .armature_poll import ActiveArmaturePoll


def _preset_items():
    items = []
    for key, path in retarget.builtin_presets().items():
        try:
            preset = retarget.load_preset(path)
            items.append((key, preset.name, preset.description))
        except AddonError:
            continue
    items.append(('FILE', "From File", "A preset JSON file of your own (see docs)"))
    return items


PRESET_ITEMS = _preset_items()
DEFAULT_PRESET = 'RIGIFY_FACE' if any(i[0] == 'RIGIFY_FACE' for i in PRESET_ITEMS) else 'FILE'


class PRNET_OT_retarget_landmarks(ActiveArmaturePoll, bpy.types.Operator):
    """Put the active armature's face bones on a PRNet face's 68 landmarks.
Snap for a Rigify metarig (before Generate Rig), Constraints for a generated or hand-made rig"""

    bl_idname = "prnet.retarget_landmarks"
    bl_label = "Retarget Landmarks to Rig"
    bl_options = {'REGISTER', 'UNDO'}

    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default=DEFAULT_PRESET)
    preset_file: StringProperty(name="Preset File", subtype='FILE_PATH',
                                description="Preset JSON (when Preset is 'From File')")
    mode: EnumProperty(name="Mode", default='CONSTRAINTS', items=[
        ('CONSTRAINTS', "Constraints", "Copy Location (heads) and Damped Track (tails) constraints "
                                       "that follow the landmark empties; for generated rigs, "
                                       "never for a Rigify metarig"),
        ('SNAP', "Snap Bones", "Move the bones in the rest pose (edit mode) onto the landmarks; "
                               "for a Rigify metarig, before Generate Rig"),
    ])
    face: StringProperty(name="Face", description="The PRNet face object; empty: the selected one")
    align_face: BoolProperty(
        name="Align Face to Rig", default=True,
        description="First move/rotate/scale the face onto the rig's mapped bones (best fit)")
    bind: BoolProperty(
        name="Bind Face", default=False,
        description="Then bind the face to the armature with PRNet's weights (Snap on a rig "
                    "that deforms; a metarig must be generated first)")

    def execute(self, context):
        armature = context.active_object
        try:
            path = (bpy.path.abspath(self.preset_file) if self.preset == 'FILE'
                    else retarget.builtin_presets()[self.preset])
            preset = retarget.load_preset(path)
            face = find_face(context, self.face)
            if self.bind:  # refuse before anything changes
                if self.mode == 'CONSTRAINTS':
                    raise RigError("Bind Face goes with Snap Bones: bones that follow the landmarks "
                                   "(Constraints) and a face that follows the bones make a cycle")
                check_bindable(face, armature)
            report = retarget_face(context, armature, face, preset, self.mode, self.align_face)
            bound = bind_face(context, face, armature) if self.bind else None
        except AddonError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        if report.missing:
            self.report({'WARNING'}, f"{len(report.missing)} preset bone(s) not in the armature: "
                        + ", ".join(report.missing[:8]) + ("..." if len(report.missing) > 8 else ""))
        if report.removed_constraints:
            self.report({'WARNING'}, f"removed {report.removed_constraints} PRNet constraint(s) "
                                     f"from metarig '{armature.name}' (Rigify would copy them)")
        self.report({'INFO'}, f"Retargeted {report.bones} bone(s) of '{armature.name}' to "
                              f"'{face.name}' ({preset.name}, {self.mode.lower()})"
                    + (f"; bound to {bound.bones} bones" if bound else ""))
        return {'FINISHED'}
