"""House rule: no module of engine/, training/ or blender_prnet/ over 400 lines (a room you can
hold in your head; split by responsibility, see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "training", "blender_prnet")
MAX_LINES = 400


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py")
                  if "_vendor" not in path.parts)


def test_the_packages_have_modules():
    assert len(source_files()) > 100


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_size(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)}: {lines} lines"
