"""The add-on's house rules, checked on its source (no Blender needed).

- no import cycles between its modules (imports inside functions count too),
- no module over 400 lines,
- the format-logic modules import no bpy, so they are testable without Blender.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blender_prnet"
MAX_LINES = 400
BPY_FREE = ("batch", "deps", "errors", "expression_keys", "face_box", "facebuild", "enum_items",
            "landmarks", "livelink", "naming", "retarget", "runner", "skin_weights",
            "surface_distance")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "_vendor" not in p.parts}


def imports_of(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(the package's own modules ``name`` imports, the top-level names of everything else)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    known = modules()
    own, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                external.add((node.module or "").split(".")[0])
                continue
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            prefix = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{prefix}.{alias.name}".strip(".")
                if candidate in known:
                    own.add(candidate)
                elif prefix in known:
                    own.add(prefix)
    own.discard(name)
    return own, external


def test_no_import_cycles():
    graph = {name: imports_of(name, path)[0] for name, path in modules().items()}
    # The package's __init__ registers everything; nothing imports it back except through
    # Blender, so it is left out of the cycle search as a target.
    cycles = []

    def visit(node, stack, on_stack, done):
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target == "":
                continue
            if target in on_stack:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in done:
                visit(target, stack, on_stack, done)
        on_stack.discard(node)
        stack.pop()
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [], set(), done)
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    with pytest.raises(AssertionError, match="a -> b -> a"):
        test_no_import_cycles()


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name):
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


@pytest.mark.parametrize("name", BPY_FREE)
def test_format_logic_needs_no_blender(name):
    _, external = imports_of(name, modules()[name])
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
