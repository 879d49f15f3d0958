"""Expression shape keys and Live Link Face CSV import in real Blender (bpy 5.0.1, headless).

The faces are PRNet's mean face (the network's output replaced, see blender_helpers); the
first import needs the ICT registration (about a minute on its first run, then cached).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import blender_helpers as H
from addon_fixtures import (EINSTEIN, ESC, TIMER, addon, bpy, data_counts,  # noqa: F401
                            import_face, mean_face, run_modal_to_end, start_in_background,
                            weights)

pytestmark = [pytest.mark.blender, pytest.mark.slow]

NUM_KEYS = 53  # 51 ARKit shapes (all but tongueOut) + cheekRaiser_L/_R


@pytest.fixture
def scene(addon, mean_face):
    """An empty scene; the network predicts the mean face (a real face shape)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context.scene


@pytest.fixture(scope="module")
def landmark_vertices(assets_dir):
    from engine.ict_registration import bfm_template

    return bfm_template(str(assets_dir))[2]


def _key_coordinates(block) -> np.ndarray:
    co = np.empty(len(block.data) * 3)
    block.data.foreach_get("co", co)
    return co.reshape(-1, 3)


def _gap_mm(points, landmark_vertices, pairs) -> float:
    return max(float(np.linalg.norm(points[landmark_vertices[a]] - points[landmark_vertices[b]]))
               for a, b in pairs) * 1000.0


def test_import_adds_a_basis_and_arkit_shape_keys(scene, landmark_vertices):
    from blender_prnet import expression_keys

    face = import_face()
    blocks = face.data.shape_keys.key_blocks
    names = [b.name for b in blocks]
    assert names[0] == "Basis" and len(names) == 1 + NUM_KEYS
    assert names[1:4] == ["eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft"]
    assert {"jawOpen", "browInnerUp", "cheekPuff", "mouthSmileLeft", "cheekRaiser_R"} <= set(names)
    assert not set(names) & {"browInnerUp_L", "cheekPuff_R", "tongueOut", "PupilDilate_L"}
    assert set(names[1:]) <= set(expression_keys.ARKIT_BLENDSHAPES) | set(expression_keys.EXTRAS)
    basis = _key_coordinates(blocks["Basis"])
    vertices = np.empty(len(face.data.vertices) * 3)
    face.data.vertices.foreach_get("co", vertices)
    np.testing.assert_allclose(basis, vertices.reshape(-1, 3), atol=1e-7)
    # All at weight 0: the face shows as imported.
    assert all(block.value == 0.0 for block in list(blocks)[1:])
    evaluated = face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    shown = np.empty(len(evaluated.vertices) * 3)
    evaluated.vertices.foreach_get("co", shown)
    np.testing.assert_allclose(shown.reshape(-1, 3), basis, atol=1e-7)
    # At weight 1, eyeBlinkLeft shuts the subject's left eye (on +X) and leaves the right open.
    blink = _key_coordinates(blocks["eyeBlinkLeft"])
    left, right = ((43, 47), (44, 46)), ((37, 41), (38, 40))
    assert _gap_mm(basis, landmark_vertices, left) > 5.0
    assert _gap_mm(blink, landmark_vertices, left) < 1.0
    assert min(_gap_mm(blink, landmark_vertices, ((a, b),)) for a, b in right) > 5.0
    assert basis[landmark_vertices[45], 0] > 0
    # jawOpen drops the chin (Blender's -Z) by a jaw's travel.
    chin = landmark_vertices[8]
    drop = (basis[chin, 2] - _key_coordinates(blocks["jawOpen"])[chin, 2]) * 1000.0
    assert 15.0 < drop < 35.0
    # browInnerUp is both halves: it raises both inner brows alike.
    brow = _key_coordinates(blocks["browInnerUp"]) - basis
    rise = brow[landmark_vertices[[21, 22]], 2] * 1000.0
    assert np.all(rise > 2.0) and abs(rise[0] - rise[1]) < 0.3 * rise.max()


def test_shape_keys_can_be_left_out(scene):
    face = import_face(expression_shape_keys=False)
    assert face.data.shape_keys is None


def test_missing_ict_model_imports_the_face_with_a_warning(scene, assets_dir, tmp_path,
                                                           monkeypatch, capfd):
    from blender_prnet import deps, runner

    for relpath in deps.engine_module("assets").ENGINE_ASSETS:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).symlink_to(assets_dir / relpath)
    monkeypatch.delenv("PRNET_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.assets_dir = str(tmp_path)
    runner.clear_cache()
    try:
        face = import_face()
    finally:
        prefs.assets_dir = str(assets_dir)
        runner.clear_cache()
    assert face.data.shape_keys is None and len(face.data.vertices) == 38365
    # Headless bpy prints the operator's reports.
    assert "Warning: no expression shape keys: " in capfd.readouterr().out


def _record_threads(monkeypatch, hold=None) -> dict:
    """Note the thread the offsets are computed in and the one the keys are made in;
    ``hold`` (entered, release): the offsets wait for ``release`` after setting ``entered``."""
    from blender_prnet import expression_keys, shape_keys

    threads = {}
    real_offsets, real_add = expression_keys.shape_key_offsets, shape_keys.add_expression_shape_keys

    def offsets(*args, **kwargs):
        threads["offsets"] = threading.current_thread()
        if hold is not None:
            hold[0].set()
            assert hold[1].wait(60), "the test never released the worker"
        return real_offsets(*args, **kwargs)

    def add(*args, **kwargs):
        threads["keys"] = threading.current_thread()
        return real_add(*args, **kwargs)

    monkeypatch.setattr(expression_keys, "shape_key_offsets", offsets)
    monkeypatch.setattr(shape_keys, "add_expression_shape_keys", add)
    return threads


def test_ui_import_computes_the_keys_in_the_worker_and_makes_them_here(scene, monkeypatch):
    threads = _record_threads(monkeypatch)
    operator = start_in_background(filepath=str(EINSTEIN), landmarks='NONE', texture_size='256')
    assert run_modal_to_end(operator) == {'FINISHED'}
    assert threads["offsets"] is not threading.main_thread()
    assert threads["offsets"].name.startswith("prnet-import")
    assert threads["keys"] is threading.main_thread()  # bpy only here
    face = bpy.context.view_layer.objects.active
    assert len(face.data.shape_keys.key_blocks) == 1 + NUM_KEYS


def test_esc_while_the_worker_computes_the_keys_adds_nothing(scene, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    threads = _record_threads(monkeypatch, hold=(entered, release))
    before = data_counts()
    operator = start_in_background(filepath=str(EINSTEIN), landmarks='EMPTIES', texture_size='256')
    try:
        assert entered.wait(60), "the worker never reached the expression shape keys"
        assert operator.modal(bpy.context, TIMER) == {'RUNNING_MODAL'}
        assert "computing expression shape keys" in operator.status_text()
        future = operator._future
        assert operator.modal(bpy.context, ESC) == {'CANCELLED'}
    finally:
        release.set()
    future.result(timeout=120)  # the worker finishes its keys in the background ...
    assert data_counts() == before and "keys" not in threads  # ... and they are dropped


def test_failure_while_making_the_keys_rolls_the_face_back(scene, monkeypatch):
    from blender_prnet import shape_keys

    real = shape_keys.add_expression_shape_keys

    def broken(obj, offsets):
        real(obj, offsets)
        raise RuntimeError("simulated failure after the shape keys")

    monkeypatch.setattr(shape_keys, "add_expression_shape_keys", broken)
    before = data_counts()
    with pytest.raises(RuntimeError, match="simulated failure after the shape keys"):
        import_face(landmarks='EMPTIES', texture_size='256')
    assert data_counts() == before  # the Key datablock went with its mesh


TAKE = [("09:10:11:28.000", {"EyeBlinkLeft": 0.0, "JawOpen": 0.10, "BrowInnerUp": 0.0,
                             "TongueOut": 0.3, "HeadYaw": 0.2}),
        ("09:10:11:29.000", {"EyeBlinkLeft": 0.5, "JawOpen": 0.25, "BrowInnerUp": 0.8}),
        ("09:10:12:00.000", {"EyeBlinkLeft": 1.0, "JawOpen": 0.40, "MouthSmileLeft": 0.6}),
        ("09:10:12:01.000", {"EyeBlinkLeft": 0.2, "JawOpen": 0.0, "MouthSmileLeft": 1.0})]


def _values_at(face, frame: float, names) -> dict[str, float]:
    whole = int(np.floor(frame))
    bpy.context.scene.frame_set(whole, subframe=frame - whole)
    return {name: face.data.shape_keys.key_blocks[name].value for name in names}


def test_live_link_csv_round_trip(scene, tmp_path):
    face = import_face()
    path = tmp_path / "take.csv"
    H.write_livelink_csv(path, TAKE)
    assert bpy.ops.prnet.import_livelink_csv('EXEC_DEFAULT', filepath=str(path),
                                             start_frame=10) == {'FINISHED'}
    assert bpy.context.scene.render.fps == 30 and bpy.context.scene.render.fps_base == 1.0
    checked = {"EyeBlinkLeft": "eyeBlinkLeft", "JawOpen": "jawOpen", "BrowInnerUp": "browInnerUp",
               "MouthSmileLeft": "mouthSmileLeft", "CheekPuff": "cheekPuff"}
    for row, (_, values) in enumerate(TAKE):
        keyed = _values_at(face, 10 + row, checked.values())
        for column, key in checked.items():
            assert keyed[key] == pytest.approx(values.get(column, 0.0), abs=1e-6), (row, key)
    assert bpy.context.scene.frame_end >= 13
    # Every matched column is one F-curve with one key per row; a second import replaces them.
    assert bpy.ops.prnet.import_livelink_csv('EXEC_DEFAULT', filepath=str(path),
                                             start_frame=10) == {'FINISHED'}
    from blender_prnet.shape_keys import _fcurves

    curves = _fcurves(face.data.shape_keys, "unused")
    assert len(curves) == 51  # the ARKit columns that have a key (all but TongueOut)
    assert all(len(curve.keyframe_points) == len(TAKE) for curve in curves)


def test_live_link_keys_by_time_at_the_scenes_rate(scene, tmp_path):
    face = import_face()
    bpy.context.scene.render.fps = 24
    path = tmp_path / "take.csv"
    H.write_livelink_csv(path, TAKE)
    assert bpy.ops.prnet.import_livelink_csv('EXEC_DEFAULT', filepath=str(path), start_frame=1,
                                             set_scene_frame_rate=False) == {'FINISHED'}
    assert bpy.context.scene.render.fps == 24
    for row, (_, values) in enumerate(TAKE):
        frame = 1 + row * 24 / 30
        assert _values_at(face, frame, ["jawOpen"])["jawOpen"] == pytest.approx(
            values["JawOpen"], abs=1e-5)


def test_live_link_needs_a_face_with_shape_keys(scene, tmp_path):
    face = import_face(expression_shape_keys=False)
    assert not bpy.ops.prnet.import_livelink_csv.poll()
    face.shape_key_add(name="Basis")
    face.shape_key_add(name="somethingElse")
    path = tmp_path / "take.csv"
    H.write_livelink_csv(path, TAKE)
    with pytest.raises(RuntimeError, match="none of its columns"):
        bpy.ops.prnet.import_livelink_csv('EXEC_DEFAULT', filepath=str(path))
    (tmp_path / "bad.csv").write_text("not,a,take\n")
    with pytest.raises(RuntimeError, match="Timecode"):
        bpy.ops.prnet.import_livelink_csv('EXEC_DEFAULT', filepath=str(tmp_path / "bad.csv"))
