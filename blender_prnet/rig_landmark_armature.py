"""The generic landmark rig: one bone per landmark, under a head bone and a jaw hinge.

    head (the rest bone: what is far from every landmark follows it)
    ├── jaw (hinge between the ends of the jaw contour, points at the chin; the lower face)
    │   └── the landmark bones that move with the lower jaw (landmarks.JAW_FOLLOWERS)
    └── the other landmark bones

The landmark bones are named as in the Generic 68-point preset, so retargeting
and binding find them; rotating ``jaw`` about its X axis opens the mouth.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from . import retarget
from .landmarks import CHIN, JAW_FOLLOWERS, JAW_HINGE, NOSE_TOP, OUTER_EYE_CORNERS

HEAD_BONE, JAW_BONE = "head", "jaw"


def face_axes(landmarks: np.ndarray) -> tuple[Vector, Vector, Vector]:
    """(right, up, forward) of the face in world space: +X, +Z and -Y for an imported face."""
    right = Vector(landmarks[OUTER_EYE_CORNERS[1]] - landmarks[OUTER_EYE_CORNERS[0]]).normalized()
    up = Vector(landmarks[NOSE_TOP] - landmarks[CHIN])
    up = (up - right * up.dot(right)).normalized()
    return right, up, right.cross(up)


def build_landmark_armature(context, name: str, landmarks: np.ndarray, collection,
                            bone_length: float) -> bpy.types.Object:
    """An armature object at the world origin with the bones above on ``landmarks`` (world)."""
    preset = retarget.load_preset(retarget.builtin_presets()['GENERIC_68'])
    right, up, forward = face_axes(landmarks)
    hinge = Vector(landmarks[list(JAW_HINGE)].mean(axis=0))
    chin = Vector(landmarks[CHIN])
    data = bpy.data.armatures.new(name)
    rig = bpy.data.objects.new(name, data)
    collection.objects.link(rig)
    context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    try:
        head = data.edit_bones.new(HEAD_BONE)
        head.head = hinge
        head.tail = hinge + up * (Vector(landmarks[NOSE_TOP]) - chin).length
        head.align_roll(-forward)
        jaw = data.edit_bones.new(JAW_BONE)
        jaw.head, jaw.tail = hinge, chin
        jaw.align_roll(right.cross(chin - hinge))  # local X = the face's left-right axis
        jaw.parent = head
        for target in preset.targets:
            bone = data.edit_bones.new(target.bone)
            bone.head = Vector(landmarks[target.head])
            bone.tail = bone.head + forward * bone_length  # out of the face
            bone.parent = jaw if target.head in JAW_FOLLOWERS else head
    finally:
        bpy.ops.object.mode_set(mode='OBJECT')
    return rig
