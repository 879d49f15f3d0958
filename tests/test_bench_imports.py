"""The benchmarks are not run by the suite, so check that what they import from the project
still exists (a module split once left bench_synthetic.py importing a moved private name)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("engine", "training", "blender_prnet", "bench")


def project_imports(path: Path) -> list[tuple[str, str]]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in PROJECT:
            names += [(node.module, alias.name) for alias in node.names]
    return names


@pytest.mark.parametrize("script", sorted((REPO / "bench").glob("*.py")), ids=lambda p: p.name)
def test_bench_scripts_import_only_what_exists(script, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    missing = []
    for module_name, name in project_imports(script):
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ImportError:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"{script.name} imports names that do not exist: {missing}"
