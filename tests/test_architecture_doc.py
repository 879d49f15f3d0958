"""docs/architecture.md lists every module of engine/, training/ and blender_prnet/, once each.

Each package has a section ``## <package>/`` with a table of rows ``| `module` | what it is |``,
the module named relative to its package without ``.py`` (``models/blocks``,
``train/__main__``). Read as text: no torch, no bpy.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PACKAGES = ("engine", "training", "blender_prnet")
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


def source_modules(package: str) -> set[str]:
    """Every .py file of the package, relative to it, without .py (the add-on's built
    ``_vendor`` copy of the engine left out)."""
    root = REPO / package
    return {path.relative_to(root).with_suffix("").as_posix()
            for path in root.rglob("*.py") if "_vendor" not in path.relative_to(root).parts}


def documented_rows(package: str) -> list[tuple[str, str]]:
    """(module, description) for each table row in the package's section of the doc."""
    rows, inside = [], False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == f"{package}/"
        elif inside and (match := ROW.match(line)):
            rows.append((match.group(1).strip(), match.group(2).strip()))
    return rows


@pytest.mark.parametrize("package", PACKAGES)
def test_doc_lists_every_module_once(package):
    rows = documented_rows(package)
    assert rows, f"docs/architecture.md has no module table under '## {package}/'"
    names = [name for name, _ in rows]
    documented, actual = set(names), source_modules(package)
    missing, stale = sorted(actual - documented), sorted(documented - actual)
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    empty = sorted(name for name, description in rows if not description)
    problems = [f"{label}: {', '.join(found)}" for label, found in
                (("missing (no row)", missing), ("stale (no such module)", stale),
                 ("listed more than once", twice), ("empty description", empty)) if found]
    assert not problems, (f"update docs/architecture.md, section '## {package}/': "
                          + "; ".join(problems))
