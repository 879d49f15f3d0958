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


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A randomly initialised width-2 ResFCN256 saved in our weights format (fast on the CPU)."""
    import torch

    from engine.models.resfcn256 import ResFCN256, ResFCN256Config
    from engine.weights import save_weights

    torch.manual_seed(0)
    config = ResFCN256Config(base_width=2)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(ResFCN256(config), path, config, {"source": "random init for tests"})
    return path


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    return Path(os.environ["PRNET_ASSETS"]) / "photos"


@pytest.fixture(scope="session")
def bfm():
    """The BFM from the assets with its derived bases (the first run derives and caches them)."""
    from training.morphable_model import load_bfm_from_assets

    return load_bfm_from_assets()


@pytest.fixture(scope="session")
def layout():
    from engine.uv_layout import load_uv_layout

    return load_uv_layout()
