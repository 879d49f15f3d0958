"""Finding the face-model data files (BFM topology, UV layout, masks, detector weights) at run time.

These files are public but licensed separately (the Basel Face Model is for
non-commercial research), so they are never part of our source tree. They are
looked up, in order, in:

1. an explicit directory (``assets_dir=`` / the add-on's preference),
2. the ``PRNET_ASSETS`` environment variable,
3. the user cache (``$XDG_CACHE_HOME/prnet/assets``, default ``~/.cache/prnet/assets``),
   which ``prnet fetch-assets`` fills from the files' public origins, pinned to a
   commit and checked by sha256.

Nothing is downloaded implicitly: a missing file raises :class:`AssetError` that
says how to fix it.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import AssetError
from .fileio import atomic_write_bytes

ENV_VAR = "PRNET_ASSETS"
# Origins can be redirected to a mirror (or a test server) without code changes.
MIRROR_ENV_VAR = "PRNET_ASSETS_MIRROR"

_RAW = "https://raw.githubusercontent.com"
_3DDFA = ("cleardusk/3DDFA", "3545f355bfc71e5748fa915b13932958363135d7")
_3DDFA_V2 = ("cleardusk/3DDFA_V2", "1b6c67601abffc1e9f248b291708aef0e43b55ae")
_PRNET = ("YadiraF/PRNet", "fc12fe5e1f1462bdea52409b213d0cf1c8cf6c5b")


@dataclass(frozen=True)
class AssetFile:
    """One data file: where it lives in the asset directory and where it comes from."""

    relpath: str
    repo: tuple[str, str]
    origin_path: str
    sha256: str

    @property
    def url(self) -> str:
        repo, commit = self.repo
        base = os.environ.get(MIRROR_ENV_VAR, _RAW).rstrip("/")
        return f"{base}/{repo}/{commit}/{self.origin_path}"


def _f(relpath: str, repo: tuple[str, str], origin_path: str, sha256: str) -> AssetFile:
    return AssetFile(relpath, repo, origin_path, sha256)


# What the engine needs to turn a position map into a mesh, landmarks and a texture.
ENGINE_ASSETS: dict[str, AssetFile] = {a.relpath: a for a in [
    _f("bfm_noneck/BFM_UV.mat", _3DDFA_V2, "configs/BFM_UV.mat",
       "60be915f601563e274d9737abd54c6b925e8e737fa1c89d3cd64933315629ce1"),
    _f("bfm_noneck/indices.npy", _3DDFA_V2, "configs/indices.npy",
       "b341debcdf26492332c1f96ced438e727e74164d1524cab9cca0aedf6ccd39c8"),
    _f("bfm_noneck/tri.pkl", _3DDFA_V2, "configs/tri.pkl",
       "0562a594d8369f7d1c86306522ff76fd3a2c81cf90ba9443893c1191ad0abbb8"),
    _f("prnet/uv-data/face_ind.txt", _PRNET, "Data/uv-data/face_ind.txt",
       "86a7ce5131d3c827c368fd3c1236ded6b5d80802f1abd5cf98940ba0595ab231"),
    _f("prnet/uv-data/uv_kpt_ind.txt", _PRNET, "Data/uv-data/uv_kpt_ind.txt",
       "158f329a0e5518b7553195cf2373f91b9ada697b6071cdafb52b573d488a1c60"),
    _f("prnet/uv-data/canonical_vertices.npy", _PRNET, "Data/uv-data/canonical_vertices.npy",
       "724ceae7e9be10a86670159f3cdc4a4abd5bd8d3c29a475c17115b6ada55112c"),
    _f("prnet/uv-data/uv_face_mask.png", _PRNET, "Data/uv-data/uv_face_mask.png",
       "66e0c5e555619d708202639058adbeece545b67fef52a22eabd46cc71494a6c6"),
    _f("bfm/keypoints_sim.npy", _3DDFA, "train.configs/keypoints_sim.npy",
       "065053f041b03ed32e36641d26fcd9aefef36f6c518899091cdc6038a6246c13"),
    # The BFM mean face, for registering the ICT-FaceKit expressions (engine.ict_registration).
    _f("bfm/u_shp.npy", _3DDFA, "train.configs/u_shp.npy",
       "8a3b8b5ba3b0526ce3ddd3e287b26e0192c150e477767f374a6e333a365ff7dd"),
    _f("bfm/u_exp.npy", _3DDFA, "train.configs/u_exp.npy",
       "69049fb360bfff61090f7705ba510ed9bd817da871edbaa69e2fed7df624cf19"),
]}

# What training additionally needs (the morphable model, loss mask, mean texture).
TRAINING_ASSETS: dict[str, AssetFile] = {a.relpath: a for a in [
    _f("prnet/uv-data/uv_weight_mask.png", _PRNET, "Data/uv-data/uv_weight_mask.png",
       "a97882fbac6920ad08c6e314ea327db2b0a7d7fbf6a6a56be5e696b66fde0ae7"),
    _f("prnet/uv-data/uv_face.png", _PRNET, "Data/uv-data/uv_face.png",
       "5ad30efe3723da2e26d928c517291605b9520a6ff0498e40140ce4f4cf842d2c"),
    _f("prnet/uv-data/uv_kpt_mask.png", _PRNET, "Data/uv-data/uv_kpt_mask.png",
       "befe84bcf0c61c9db13c94725d8bc71e4649c676230dddfb840fa0d801aadfb1"),
    _f("bfm/tri.mat", _3DDFA, "visualize/tri.mat",
       "ff6c8371e65313ec248667d9d7bd69729d5cd126a0aa9f4cb74365a7d5715d71"),
    _f("bfm/Model_PAF.pkl", _3DDFA, "train.configs/Model_PAF.pkl",
       "418713edd25e6c5938cb49e989ff8461d59a6c8bbe5aba3a643e9e77f9bc5e4d"),
    _f("bfm/u_base.txt", _3DDFA, "c++/weights/u_base.txt",
       "1ea7c3116070aeee720605a4a44ca9db582ac550095c321c3cf65ec925fe43cf"),
    _f("bfm/w_shp_base.txt", _3DDFA, "c++/weights/w_shp_base.txt",
       "bec9a2189eb77c61ff940c801dcd9e5cd7f1973b6d91949494d9cd7ac121b7f6"),
    _f("bfm/w_exp_base.txt", _3DDFA, "c++/weights/w_exp_base.txt",
       "4dc637c92c34bfd69faab74cafce23913f2b6181ff00c57a7ab69c1204d20b18"),
]}

# Optional: the FaceBoxes face detector's weights (MIT licence, FaceBoxes.PyTorch by Zisian Wong
# and Shifeng Zhang). Without them the engine detects faces with dlib or OpenCV.
FACEBOXES_WEIGHTS = "detectors/faceboxes/FaceBoxesProd.pth"
DETECTOR_ASSETS: dict[str, AssetFile] = {a.relpath: a for a in [
    _f(FACEBOXES_WEIGHTS, _3DDFA_V2, "FaceBoxes/weights/FaceBoxesProd.pth",
       "c0cb2b1e40710c0aa5fc32a8759b1496a0fe0a126c907ca0ffe35b4bd0709d09"),
]}

ALL_ASSETS: dict[str, AssetFile] = {**ENGINE_ASSETS, **DETECTOR_ASSETS, **TRAINING_ASSETS}

FIX_HINT = (f"set {ENV_VAR}=/path/to/assets (a folder laid out like the project's shared/assets) "
            "or run `prnet fetch-assets` once to download them into the user cache")


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "prnet"


def candidate_dirs(assets_dir: str | os.PathLike | None = None) -> list[Path]:
    dirs = []
    if assets_dir:
        dirs.append(Path(assets_dir))
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(user_cache_dir() / "assets")
    return dirs


def asset_path(relpath: str, assets_dir: str | os.PathLike | None = None,
               what: str = "face-model asset", fix: str = FIX_HINT) -> Path:
    """The path of one asset file, or an AssetError that says where it was looked for."""
    searched = candidate_dirs(assets_dir)
    for directory in searched:
        path = directory / relpath
        if path.is_file():
            return path
    where = ", ".join(str(d) for d in searched)
    raise AssetError(f"{what} '{relpath}' not found (looked in: {where}); {fix}")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def derivation_key(version: str, inputs: Iterable[tuple[str, str | os.PathLike]]) -> str:
    """The cache key of data derived from files: sha256 over the derivation's version and each
    input's name and sha256, in the given order (a changed input or derivation is a new key)."""
    digest = hashlib.sha256(version.encode())
    for name, path in inputs:
        digest.update(name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def _download(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned https)
        return response.read()


def fetch_assets(files: Iterable[AssetFile] | None = None, target: str | os.PathLike | None = None,
                 downloader: Callable[[str], bytes] = _download,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Download missing asset files into ``target`` (default: the user cache), sha256-checked.

    Files already present with the right checksum are kept. A file whose checksum
    does not match is never written.
    """
    target_dir = Path(target) if target else user_cache_dir() / "assets"
    for asset in files if files is not None else ALL_ASSETS.values():
        path = target_dir / asset.relpath
        if path.is_file() and sha256_file(path) == asset.sha256:
            continue
        if progress:
            progress(asset.relpath)
        try:
            data = downloader(asset.url)
        except OSError as exc:
            raise AssetError(f"could not download '{asset.relpath}' from {asset.url}: {exc}; "
                             f"check the connection or set {ENV_VAR} to a local copy") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != asset.sha256:
            raise AssetError(f"'{asset.relpath}' from {asset.url} has sha256 {actual}, expected "
                             f"{asset.sha256}; the download is corrupt or the origin changed, "
                             f"nothing was written")
        atomic_write_bytes(path, data)
    return target_dir


def verify_assets(files: Iterable[AssetFile], assets_dir: str | os.PathLike | None = None) -> list[str]:
    """Checksum problems of the given assets where they are found (empty list: all good)."""
    problems = []
    for asset in files:
        try:
            path = asset_path(asset.relpath, assets_dir)
        except AssetError as exc:
            problems.append(str(exc))
            continue
        if sha256_file(path) != asset.sha256:
            problems.append(f"'{path}' has the wrong sha256; replace it or run `prnet fetch-assets`")
    return problems
