"""The add-on's house rules, checked on its source (no Blender needed): the format-logic
modules import no bpy, so they are testable without Blender.

Module sizes (all three packages): tests/test_module_size.py. No import cycles among its
modules (nor the engine's and training's): tests/test_import_cycles.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blender_prnet"
BPY_FREE = ("batch", "deps", "errors", "expression_keys", "face_box", "facebuild", "enum_items",
            "landmarks", "livelink", "naming", "retarget", "runner", "skin_weights",
            "surface_distance")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "_vendor" not in p.parts}


def external_imports(path: Path) -> set[str]:
    """The top-level names of everything ``path`` imports from outside the package
    (imports inside functions too)."""
    external = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            external.add((node.module or "").split(".")[0])
    return external


@pytest.mark.parametrize("name", BPY_FREE)
def test_format_logic_needs_no_blender(name):
    external = external_imports(modules()[name])
    assert not external & {"bpy", "mathutils", "bpy_extras", "gpu", "addon_utils"}, external


def _constant(path: Path, name: str):
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{path.name} has no constant {name}")


def test_batch_image_extensions_are_the_engines():
    # The add-on cannot import engine.image_io at register time (numpy, Pillow): it repeats it.
    engine_image_io = PACKAGE.parent / "engine" / "image_io.py"
    assert _constant(modules()["batch"], "IMAGE_EXTENSIONS") == _constant(engine_image_io,
                                                                         "IMAGE_SUFFIXES")
