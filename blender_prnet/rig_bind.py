"""Binding a PRNet face to an armature with our own weights (the bpy side; see skin_weights).

Which bones: the armature's deform bones that sit on landmarks. A preset bone
maps to its deform bone (Rigify's generated ``DEF-nose`` for the metarig's
``nose``, or the bone itself on the generic rig); any deform bone whose head or
tail lies on a landmark takes it too (chains). Two region bones take the rest:
the jaw (Rigify's ``DEF-jaw``, the generic rig's ``jaw``) for the lower face and
the rest bone (the head: Rigify's ``DEF-spine.006``, the generic rig's ``head``)
for everything else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import deps, retarget, skin_weights
from .errors import EngineUnavailable, RigError
from .landmarks import JAW_FOLLOWERS, NUM_LANDMARKS
from .rig_faces import face_size, landmark_empties, landmark_vertices, landmarks_world, vertices_world
from .rig_retarget import constraint_targets, is_rigify_metarig

BIND_MODIFIER = "PRNet Armature"
REST_BONE_NAMES = ("DEF-spine.006", "head", "DEF-head", "Head")
JAW_BONE_NAMES = ("DEF-jaw", "jaw", "DEF-Jaw", "Jaw")
# A bone end within this share of the face size of a landmark sits on it (~2 mm on an adult).
ON_LANDMARK_SHARE = 0.02


@dataclass
class BindReport:
    bones: int
    weighted_share: float
    rest_bone: str
    jaw_bone: str
    seconds: float
    left_out: list[str]  # deform bones not at rest in the pose bound in (they would deform it)


def deform_bone_for(armature, name: str) -> str | None:
    """The deform bone that stands for a preset bone: Rigify's DEF- copy, else the bone itself."""
    bones = armature.data.bones
    for candidate in ("DEF-" + name, name):
        bone = bones.get(candidate)
        if bone is not None and bone.use_deform:
            return candidate
    return None


def find_region_bone(armature, name: str, candidates, label: str) -> str | None:
    """The bone called ``name``, or the first deform bone of ``candidates``; None if none."""
    bones = armature.data.bones
    if name:
        if name not in bones:
            raise RigError(f"'{armature.name}' has no bone '{name}' ({label})")
        return name
    return next((n for n in candidates if n in bones and bones[n].use_deform), None)


def preset_landmarks(armature) -> dict[str, set[int]]:
    """Deform bone -> the landmarks the built-in presets give it."""
    mapped: dict[str, set[int]] = {}
    for path in retarget.builtin_presets().values():
        for target in retarget.load_preset(path).targets:
            deform = deform_bone_for(armature, target.bone)
            if deform is not None:
                mapped.setdefault(deform, set()).update(
                    i for i in (target.head, target.tail) if i is not None)
    return mapped


def bones_off_rest(armature, tolerance: float) -> set[str]:
    """Deform bones whose current pose is not their rest position (head or tail moved).

    Binding assumes the pose it is done in is the neutral one. Rigify's skin chains
    can leave a few end bones off their rest position in the neutral pose; weighting
    them would deform the face before anything is animated.
    """
    off = set()
    for bone in armature.data.bones:
        if not bone.use_deform:
            continue
        pose = armature.pose.bones[bone.name]
        if (max((pose.head - bone.head_local).length, (pose.tail - bone.tail_local).length)
                > tolerance):
            off.add(bone.name)
    return off


def check_bindable(face, armature) -> None:
    if is_rigify_metarig(armature):
        raise RigError(f"'{armature.name}' is a Rigify metarig, which deforms nothing: press "
                       "Generate Rig, then bind the face to the generated rig")
    if constraint_targets(armature) & set(landmark_empties(face).values()):
        raise RigError(f"bones of '{armature.name}' follow '{face.name}''s landmarks "
                       "(Constraints): binding would make a dependency cycle; use Snap Bones")


def bind_face(context, face, armature, rest_bone: str = "", jaw_bone: str = "") -> BindReport:
    """Weights, vertex groups, an Armature modifier, and the face parented to the armature."""
    start = time.perf_counter()
    check_bindable(face, armature)
    if not deps.module_available("scipy"):  # installed with the other dependencies
        raise EngineUnavailable("binding needs SciPy: use Preferences > Add-ons > PRNet Face > "
                                "Install Dependencies")
    landmarks = landmarks_world(face)
    size = face_size(landmarks)
    rest = find_region_bone(armature, rest_bone, REST_BONE_NAMES, "Rest Bone")
    jaw = find_region_bone(armature, jaw_bone, JAW_BONE_NAMES, "Jaw Bone")
    matrix = armature.matrix_world
    context.view_layer.update()
    scale = max(sum(matrix.to_scale()) / 3.0, 1e-9)
    left_out = bones_off_rest(armature, ON_LANDMARK_SHARE * size / scale) - {rest, jaw}
    segments = {b.name: (np.array(matrix @ b.head_local), np.array(matrix @ b.tail_local))
                for b in armature.data.bones if b.use_deform and b.name not in (rest, jaw)}
    anchors = skin_weights.anchor_landmarks(segments, landmarks, preset_landmarks(armature),
                                            ON_LANDMARK_SHARE * size)
    left_out = sorted(left_out & set(anchors))
    anchors = {name: found for name, found in anchors.items() if name not in left_out}
    if not anchors:
        raise RigError(f"no deform bone of '{armature.name}' sits on '{face.name}''s landmarks: "
                       "snap the rig onto the face first (Snap Bones, or Add Landmark Rig)")
    on_vertex = landmark_vertices(face)
    vertex_anchors = {name: sorted({int(on_vertex[i]) for i in found}) for name, found in anchors.items()}
    triangles = np.empty(len(face.data.polygons) * 3, dtype=np.int64)
    face.data.polygons.foreach_get("vertices", triangles)  # PRNet meshes are all triangles
    followers = set(JAW_FOLLOWERS)
    regions = skin_weights.Regions(
        rest_bone=rest, jaw_bone=jaw,
        jaw_vertices=sorted({int(on_vertex[i]) for i in followers}),
        head_vertices=sorted({int(on_vertex[i]) for i in range(NUM_LANDMARKS)} -
                             {int(on_vertex[i]) for i in followers}))
    names, weights = skin_weights.face_weights(vertices_world(face), triangles.reshape(-1, 3),
                                               vertex_anchors, regions, size)
    write_vertex_groups(face, armature, names, weights)
    add_armature_modifier(face, armature)
    parent_keeping_transform(face, armature)
    context.view_layer.update()
    weighted = float((weights.sum(axis=1) > 0.5).mean())
    return BindReport(len(names), weighted, rest or "", jaw or "", time.perf_counter() - start,
                      left_out)


def write_vertex_groups(face, armature, names: list[str], weights: np.ndarray) -> None:
    """One group per bone; groups of earlier binds (any deform bone's name) are replaced."""
    deform_names = {b.name for b in armature.data.bones if b.use_deform}
    for group in [g for g in face.vertex_groups if g.name in deform_names]:
        face.vertex_groups.remove(group)
    for column, name in enumerate(names):
        group = face.vertex_groups.new(name=name)
        values = weights[:, column]
        full = np.flatnonzero(values >= 1.0 - 1e-9)
        if len(full):
            group.add(full.tolist(), 1.0, 'REPLACE')
        partial = np.flatnonzero((values > 1e-6) & (values < 1.0 - 1e-9))
        add = group.add
        for vertex, value in zip(partial.tolist(), values[partial].tolist()):
            add((vertex,), value, 'REPLACE')


def add_armature_modifier(face, armature) -> None:
    for modifier in [m for m in face.modifiers if m.type == 'ARMATURE' and m.name == BIND_MODIFIER]:
        face.modifiers.remove(modifier)
    modifier = face.modifiers.new(BIND_MODIFIER, 'ARMATURE')
    modifier.object = armature
    modifier.use_vertex_groups = True
    modifier.use_bone_envelopes = False


def parent_keeping_transform(child, parent) -> None:
    world = child.matrix_world.copy()
    child.parent = parent
    child.parent_type = 'OBJECT'
    child.matrix_parent_inverse = parent.matrix_world.inverted()
    child.matrix_world = world
