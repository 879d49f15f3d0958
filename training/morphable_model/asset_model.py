"""The asset BFM as a :class:`MorphableModel`: derived bases cached, mean texture per vertex."""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.assets import asset_path, derivation_key, user_cache_dir
from engine.fileio import atomic_write_with

from .asset_files import asset_input_paths, load_asset_arrays
from .basis_derivation import DERIVATION_VERSION, derive_bfm_bases
from .model import FIT_EXP_MEAN, FIT_EXP_STD, FIT_SHAPE_MEAN, FIT_SHAPE_STD, MorphableModel
from .model_files import read_model_file

log = logging.getLogger(__name__)


def _cached_bases(paths: dict[str, Path], use_cache: bool) -> dict[str, Any]:
    key = derivation_key(DERIVATION_VERSION, sorted(paths.items()))
    cache_file = user_cache_dir() / "derived" / f"bfm_bases_{key[:24]}.npz"
    if use_cache and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as data:
                return {"shape_basis": data["shape_basis"], "exp_basis": data["exp_basis"],
                        "report": json.loads(str(data["report"])), "cache_file": str(cache_file)}
        except Exception as exc:  # noqa: BLE001 - a bad cache is rebuilt, never fatal
            log.warning("ignoring unreadable basis cache %s: %s", cache_file, exc)
    log.info("deriving the BFM shape/expression bases over the mesh (cached afterwards)")
    derived = derive_bfm_bases(paths)
    if use_cache:
        def write(temp: Path) -> None:
            with open(temp, "wb") as handle:
                np.savez(handle, shape_basis=derived["shape_basis"], exp_basis=derived["exp_basis"],
                         report=np.array(json.dumps(derived["report"])))
        try:
            atomic_write_with(cache_file, write)
            derived["cache_file"] = str(cache_file)
        except OSError as exc:
            log.warning("could not write the basis cache %s: %s", cache_file, exc)
    return derived


def vertex_colors_from_uv_texture(texture: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """Sample an RGB UV texture (H, W, 3, uint8) at vertex UVs -> (N, 3) float32 in [0, 1].

    Texels outside the painted face (black in PRNet's ``uv_face.png``: neck, ear edges) are
    first filled from their painted neighbours, so every vertex gets a skin colour.
    """
    from engine.uv_layout import sample_bilinear, uv_to_map_pixels

    image = np.asarray(texture, dtype=np.float32) / 255.0
    valid = image.max(axis=2) > 0.08
    filled = _push_pull_fill(image, valid)
    size = image.shape[0]
    pixels = uv_to_map_pixels(uvs, size)
    return np.clip(sample_bilinear(filled, pixels), 0, 1).astype(np.float32)


def _push_pull_fill(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid pixels with a smooth continuation of the valid ones (pyramid push-pull)."""
    import cv2

    if valid.all():
        return image
    weight = valid.astype(np.float32)
    levels = [(image * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 2:
        colour, w = levels[-1]
        levels.append((cv2.pyrDown(colour), cv2.pyrDown(w)))
    colour, w = levels[-1]
    result = colour / np.maximum(w, 1e-6)[..., None]
    for colour, w in reversed(levels[:-1]):
        up = cv2.resize(result, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        here = colour / np.maximum(w, 1e-6)[..., None]
        alpha = np.clip(w * 4, 0, 1)[..., None]
        result = here * alpha + up * (1 - alpha)
    return np.where(valid[..., None], image, result)


@functools.lru_cache(maxsize=2)
def _load_bfm_cached(assets_dir: str | None, use_cache: bool, with_texture: bool) -> MorphableModel:
    paths = asset_input_paths(assets_dir)
    arrays = load_asset_arrays(paths)
    derived = _cached_bases(paths, use_cache)
    texture = None
    if with_texture:
        from PIL import Image

        tex_path = asset_path("prnet/uv-data/uv_face.png", assets_dir)
        image = read_model_file(tex_path, lambda p: np.asarray(Image.open(p).convert("RGB")), "mean texture")
        texture = vertex_colors_from_uv_texture(image, arrays["uvs"])
    info = dict(derived["report"])
    info["source"] = "assets (3DDFA BFM mean, Model_PAF shape grid, 68-landmark expression)"
    if "cache_file" in derived:
        info["cache_file"] = derived["cache_file"]
    return MorphableModel(
        mean=arrays["mean"], shape_basis=derived["shape_basis"], exp_basis=derived["exp_basis"],
        triangles=arrays["triangles"], uvs=arrays["uvs"], landmark_ids=arrays["landmark_ids"],
        mean_texture=texture, shape_std=FIT_SHAPE_STD.copy(), exp_std=FIT_EXP_STD.copy(),
        shape_mean=FIT_SHAPE_MEAN.copy(), exp_mean=FIT_EXP_MEAN.copy(),
        name="BFM (assets, 40 shape / 10 expression)", info=info)


def load_bfm_from_assets(assets_dir: str | os.PathLike | None = None, use_cache: bool = True,
                         with_texture: bool = True) -> MorphableModel:
    """The 53,215-vertex BFM with 40 shape and 10 expression modes, from the asset files.

    The first call derives the dense bases (about a minute) and caches them as .npz in
    ``engine.assets.user_cache_dir()/derived``; later calls load the cache. The model is
    shared between calls: treat its arrays as read-only. ``model.info`` holds the
    derivation report (relative errors at the 68 landmarks).
    """
    return _load_bfm_cached(str(assets_dir) if assets_dir else None, use_cache, with_texture)
