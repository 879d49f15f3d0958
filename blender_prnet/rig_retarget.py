"""Putting a rig's face bones on a PRNet face's landmarks (the scene side of retargeting).

Two modes: *Snap* edits the rest pose (the mode for a Rigify metarig, before
Generate Rig), *Constraints* makes the bones follow the landmark empties (for a
generated or hand-made rig). Our constraints never go on a metarig: Rigify
would copy them into every rig it generates from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import deps, retarget
from .errors import RigError
from .rig_faces import ensure_landmark_empties, face_extent, landmarks_world

CONSTRAINT_PREFIX = "PRNet "
# Refuse when the bones' median distance to their landmarks is more than this share of the face.
FAR_SHARE = 0.5


@dataclass
class RetargetReport:
    bones: int
    missing: list[str]
    removed_constraints: int = 0


def is_rigify_metarig(armature) -> bool:
    """A metarig has Rigify rig types on its bones (the property exists while Rigify is
    enabled); a generated rig may keep them, but it has a 'rig_id'."""
    return not is_generated_rig(armature) and any(
        getattr(bone, "rigify_type", "") for bone in armature.pose.bones)


def is_generated_rig(armature) -> bool:
    """Rigify marks the armatures it generates with a 'rig_id'."""
    return armature.data.get("rig_id") is not None


def mapped_targets(preset: retarget.Preset, armature) -> tuple[list[retarget.BoneTarget], list[str]]:
    bones = armature.data.bones
    targets = [t for t in preset.targets if t.bone in bones]
    if not targets:
        raise RigError(f"none of the {len(preset.targets)} bones of preset '{preset.name}' "
                       f"is in '{armature.name}'")
    return targets, [t.bone for t in preset.targets if t.bone not in bones]


def _rest_heads(armature, targets) -> list[tuple[int, np.ndarray]]:
    return [(t.head, np.array(armature.matrix_world @ armature.data.bones[t.bone].head_local))
            for t in targets if t.head is not None]


def face_alignment(face, armature, targets) -> Matrix:
    """The similarity that best moves the face's landmarks onto the mapped bone heads."""
    heads = _rest_heads(armature, targets)
    if len(heads) < 3:
        raise RigError("aligning needs at least 3 bones with a head landmark")
    landmarks = landmarks_world(face)
    source = np.array([landmarks[i] for i, _ in heads])
    target = np.array([head for _, head in heads])
    # engine.pose needs only numpy, so this works without torch installed.
    scale, rotation, translation = deps.engine_module("pose").fit_similarity(source, target)
    return Matrix(retarget.similarity_matrix(scale, rotation, translation).tolist())


def check_bones_near(face, armature, targets, transform: Matrix | None = None) -> None:
    """Refuse (one line) when the bones are far from the landmarks they would be put on."""
    heads = _rest_heads(armature, targets)
    if not heads:
        return
    landmarks = landmarks_world(face)
    if transform is not None:
        matrix = np.array(transform)
        landmarks = landmarks @ matrix[:3, :3].T + matrix[:3, 3]
    size = face_extent(landmarks)
    distance = float(np.median([np.linalg.norm(head - landmarks[i]) for i, head in heads]))
    if distance > FAR_SHARE * size:
        raise RigError(f"the face bones of '{armature.name}' are {distance:.2f} m from "
                       f"'{face.name}''s landmarks (the face is {size:.2f} m across): turn on "
                       "Align Face to Rig, or move the face onto the rig")


def remove_constraints(armature, names=None) -> int:
    """Remove our constraints (from ``names`` only, if given); returns how many."""
    removed = 0
    for pose_bone in armature.pose.bones:
        if names is not None and pose_bone.name not in names:
            continue
        for constraint in [c for c in pose_bone.constraints if c.name.startswith(CONSTRAINT_PREFIX)]:
            pose_bone.constraints.remove(constraint)
            removed += 1
    return removed


def constraint_targets(armature) -> set:
    """The objects our constraints on ``armature`` follow."""
    return {c.target for b in armature.pose.bones for c in b.constraints
            if c.name.startswith(CONSTRAINT_PREFIX) and c.target is not None}


def add_constraints(context, armature, face, targets) -> None:
    """Copy Location for heads, Damped Track for tails, following the landmark empties.

    A connected bone cannot be moved by Copy Location (its head is its parent's
    tail), so its parent gets a Stretch To towards the landmark instead.
    """
    empties = ensure_landmark_empties(context, face)
    bones = armature.data.bones
    stretch: dict[str, int] = {}
    for target in targets:
        bone = bones[target.bone]
        if target.head is not None and bone.use_connect and bone.parent is not None:
            stretch.setdefault(bone.parent.name, target.head)
    remove_constraints(armature, {t.bone for t in targets} | set(stretch))
    for target in targets:
        pose_bone = armature.pose.bones[target.bone]
        if target.head is not None and not bones[target.bone].use_connect:
            copy = pose_bone.constraints.new('COPY_LOCATION')
            copy.name = CONSTRAINT_PREFIX + "Copy Location"
            copy.target = empties[target.head]
        if target.tail is not None and target.bone not in stretch:
            track = pose_bone.constraints.new('DAMPED_TRACK')
            track.name = CONSTRAINT_PREFIX + "Damped Track"
            track.target = empties[target.tail]
            track.track_axis = 'TRACK_Y'
    for name, landmark in stretch.items():
        constraint = armature.pose.bones[name].constraints.new('STRETCH_TO')
        constraint.name = CONSTRAINT_PREFIX + "Stretch To"
        constraint.target = empties[landmark]
        constraint.volume = 'NO_VOLUME'
        # Stretch To scales by (distance / rest length); the bone's own world-space length
        # as rest length makes the tail land exactly on the target.
        scale = sum(armature.matrix_world.to_scale()) / 3.0
        constraint.rest_length = bones[name].length * scale
    context.view_layer.update()


def snap_bones(context, armature, face, targets) -> None:
    """Rest-pose edit: heads onto their landmarks, tails onto theirs or moved along.

    Parents first, so a connected child's head (= its parent's tail) is written last
    and every mapped head ends exactly on its landmark.
    """
    world = landmarks_world(face)
    to_local = armature.matrix_world.inverted()
    by_name = {t.bone: t for t in targets}
    view_layer = context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = armature.mode
    hidden = armature.hide_get()
    armature.hide_set(False)
    view_layer.objects.active = armature
    if previous_mode != 'EDIT':
        bpy.ops.object.mode_set(mode='EDIT')
    try:
        edit_bones = armature.data.edit_bones
        order = sorted(by_name, key=lambda name: len(edit_bones[name].parent_recursive))
        for name in order:
            target = by_name[name]
            bone = edit_bones[name]
            vector = bone.tail - bone.head
            if target.head is not None:
                bone.head = to_local @ Vector(world[target.head])
            if target.tail is not None:
                tail = to_local @ Vector(world[target.tail])
                if (tail - bone.head).length > 1e-5:
                    bone.tail = tail
                    continue
            if target.head is not None:
                bone.tail = bone.head + vector
    finally:
        if previous_mode != 'EDIT':
            bpy.ops.object.mode_set(mode=previous_mode)
        armature.hide_set(hidden)
        view_layer.objects.active = previous_active or armature


def retarget_face(context, armature, face, preset: retarget.Preset, mode: str,
                  align: bool) -> RetargetReport:
    """Check everything first, then align (optional) and snap or constrain; one-line RigErrors."""
    metarig = is_rigify_metarig(armature)
    if mode == 'CONSTRAINTS' and metarig:
        raise RigError(f"'{armature.name}' is a Rigify metarig: Rigify would copy the constraints "
                       "into the rig it generates; use Snap Bones here, then Constraints or Bind "
                       "on the generated rig")
    targets, missing = mapped_targets(preset, armature)
    transform = face_alignment(face, armature, targets) if align else None
    check_bones_near(face, armature, targets, transform)
    if transform is not None:
        face.matrix_world = transform @ face.matrix_world
        context.view_layer.update()
    removed = 0
    if mode == 'SNAP':
        # Left over from an older version or a Constraints run: never leave them on a metarig.
        removed = remove_constraints(armature) if metarig else 0
        snap_bones(context, armature, face, targets)
    else:
        add_constraints(context, armature, face, targets)
    return RetargetReport(len(targets), missing, removed)
