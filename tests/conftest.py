"""Shared test setup: the face-model assets come from ../shared/assets, as in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ASSETS = REPO.parent / "shared" / "assets"
os.environ.setdefault("PRNET_ASSETS", str(SHARED_ASSETS))
# Keep the tests away from the user's real cache.
os.environ.setdefault("XDG_CACHE_HOME", str(REPO / ".pytest_cache" / "xdg"))


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    path = Path(os.environ["PRNET_ASSETS"])
    if not (path / "prnet").is_dir():
        pytest.fail(f"face-model assets not found at {path}: set PRNET_ASSETS")
    return path
