"""Asset lookup and the pinned, sha256-checked download path (served locally, never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from engine import assets
from engine.errors import AssetError


@pytest.fixture()
def mirror(tmp_path, assets_dir, monkeypatch):
    """A local HTTP server laid out like the origins: /<repo>/<commit>/<path>."""
    root = tmp_path / "mirror"
    chosen = [assets.ENGINE_ASSETS["prnet/uv-data/uv_kpt_ind.txt"],
              assets.ENGINE_ASSETS["bfm_noneck/indices.npy"]]
    for asset in chosen:
        repo, commit = asset.repo
        target = root / repo / commit / asset.origin_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(assets_dir / asset.relpath, target)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(assets.MIRROR_ENV_VAR, f"http://127.0.0.1:{server.server_address[1]}")
    yield root, chosen
    server.shutdown()
    server.server_close()


def test_manifest_matches_the_shared_assets(assets_dir):
    for asset in assets.ALL_ASSETS.values():
        assert assets.sha256_file(assets_dir / asset.relpath) == asset.sha256, asset.relpath


def test_fetch_downloads_and_checks(mirror, tmp_path):
    root, chosen = mirror
    target = tmp_path / "cache"
    seen = []
    assets.fetch_assets(chosen, target=target, progress=seen.append)
    assert sorted(seen) == sorted(a.relpath for a in chosen)
    for asset in chosen:
        data = (target / asset.relpath).read_bytes()
        assert hashlib.sha256(data).hexdigest() == asset.sha256
    seen.clear()
    assets.fetch_assets(chosen, target=target, progress=seen.append)
    assert seen == []  # already there and verified: nothing downloaded again


def test_fetch_refuses_a_tampered_file(mirror, tmp_path):
    root, chosen = mirror
    repo, commit = chosen[0].repo
    (root / repo / commit / chosen[0].origin_path).write_text("tampered")
    target = tmp_path / "cache"
    with pytest.raises(AssetError, match="sha256"):
        assets.fetch_assets(chosen[:1], target=target)
    assert not (target / chosen[0].relpath).exists()


def test_fetch_reports_an_unreachable_origin(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.MIRROR_ENV_VAR, "http://127.0.0.1:9")
    with pytest.raises(AssetError, match="could not download"):
        assets.fetch_assets([assets.ENGINE_ASSETS["bfm_noneck/tri.pkl"]], target=tmp_path)


def test_missing_asset_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.ENV_VAR, str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(AssetError) as info:
        assets.asset_path("prnet/uv-data/face_ind.txt")
    message = str(info.value)
    assert "face_ind.txt" in message and assets.ENV_VAR in message and "fetch-assets" in message


def test_lookup_order(tmp_path, monkeypatch, assets_dir):
    explicit = tmp_path / "explicit"
    (explicit / "bfm_noneck").mkdir(parents=True)
    shutil.copy(assets_dir / "bfm_noneck/indices.npy", explicit / "bfm_noneck/indices.npy")
    assert assets.asset_path("bfm_noneck/indices.npy", explicit) == explicit / "bfm_noneck/indices.npy"
    assert assets.asset_path("bfm_noneck/tri.pkl", explicit) == Path(assets_dir) / "bfm_noneck/tri.pkl"
