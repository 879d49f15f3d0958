"""The original Basel Face Model file (``01_MorphableModel.mat``) plus an expression basis."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.assets import asset_path

from .asset_files import asset_input_paths, load_asset_arrays
from .model import NUM_BFM_VERTICES, MorphableModel
from .model_files import ModelFileError, load_mat


def load_basel_mat(path: str | os.PathLike, exp_path: str | os.PathLike | None = None,
                   trim: str = "auto", assets_dir: str | os.PathLike | None = None) -> MorphableModel:
    """Load the original Basel Face Model ``01_MorphableModel.mat`` (+ an expression basis).

    The file holds ``shapeMU`` (3N, 1), ``shapePC`` (3N, K), ``shapeEV`` (K, 1) standard
    deviations, ``texMU``, ``texPC``, ``texEV`` (colours 0..255) and ``tl`` (M, 3) 1-based
    triangles, coordinates interleaved x, y, z per vertex (N = 53,490 for BFM 2009).
    ``exp_path`` is a file with ``mu_exp`` (3N', 1) and ``w_exp`` (3N', Ke) (optionally
    ``sigma_exp``), e.g. 3DDFA's ``Model_Expression.mat`` over the 53,215 trimmed vertices;
    the mean becomes shapeMU + mu_exp as in 3DDFA (face3d's generator omits mu_exp).

    ``trim``: "auto" trims a 53,490-vertex model to 3DDFA's 53,215 vertices by matching its
    mean to the asset ``u_shp.npy`` (exact vertex matches), which also attaches the asset
    triangles, UVs and landmarks; "never" keeps the file's own vertices and ``tl``
    triangles (no UVs/landmarks then); "always" fails if the match is impossible.
    """
    path = Path(path)
    data = load_mat(path, "Basel Face Model")
    for key in ("shapeMU", "shapePC", "tl"):
        if key not in data:
            raise ModelFileError(f"'{path}' has no '{key}': not a Basel 01_MorphableModel.mat")
    shape_mu = np.asarray(data["shapeMU"], np.float64).ravel()
    shape_pc = np.asarray(data["shapePC"], np.float64)
    if shape_mu.size % 3 or shape_pc.ndim != 2 or shape_pc.shape[0] != shape_mu.size:
        raise ModelFileError(f"'{path}': shapeMU {np.shape(data['shapeMU'])} and shapePC "
                             f"{shape_pc.shape} do not match (expected (3N, 1) and (3N, K))")
    n = shape_mu.size // 3
    tl = np.asarray(data["tl"], np.int64)
    if tl.ndim != 2 or 3 not in tl.shape:
        raise ModelFileError(f"'{path}': tl has shape {tl.shape}, expected (M, 3)")
    if tl.shape[1] != 3:
        tl = tl.T
    if tl.min() < 1 or tl.max() > n:
        raise ModelFileError(f"'{path}': tl indices must be 1-based within {n} vertices")
    shape_ev = _optional_vector(data, "shapeEV", shape_pc.shape[1], path)
    tex_mu = data.get("texMU")
    tex_pc = data.get("texPC")
    tex_ev = _optional_vector(data, "texEV", None if tex_pc is None else np.shape(tex_pc)[1], path)
    if tex_mu is not None and np.size(tex_mu) != 3 * n:
        raise ModelFileError(f"'{path}': texMU has {np.size(tex_mu)} values, expected {3 * n}")

    keep = np.arange(n)
    triangles = tl - 1
    uvs = landmark_ids = None
    if trim not in ("auto", "never", "always"):
        raise ValueError(f"trim must be 'auto', 'never' or 'always', got {trim!r}")
    if trim != "never":
        match = _match_to_asset_vertices(shape_mu.reshape(n, 3), assets_dir)
        if match is None and trim == "always":
            raise ModelFileError(f"'{path}': its vertices do not contain 3DDFA's 53,215 BFM "
                                 f"vertices (bfm/u_shp.npy); use trim='never'")
        if match is not None:
            keep = match
            assets = load_asset_arrays(asset_input_paths(assets_dir))
            triangles, uvs, landmark_ids = assets["triangles"], assets["uvs"], assets["landmark_ids"]
    coords = (3 * keep[:, None] + np.arange(3)).ravel()
    mean = shape_mu[coords].reshape(-1, 3)
    shape_basis = shape_pc[coords].reshape(len(keep), 3, -1)

    exp_basis = np.zeros((len(keep), 3, 0))
    exp_std = None
    if exp_path is not None:
        exp_path = Path(exp_path)
        exp = load_mat(exp_path, "expression basis")
        for key in ("mu_exp", "w_exp"):
            if key not in exp:
                raise ModelFileError(f"'{exp_path}' has no '{key}': expected mu_exp and w_exp "
                                     f"(like 3DDFA's Model_Expression.mat)")
        mu_exp = np.asarray(exp["mu_exp"], np.float64).ravel()
        w_exp = np.asarray(exp["w_exp"], np.float64)
        if w_exp.ndim != 2 or w_exp.shape[0] != mu_exp.size:
            raise ModelFileError(f"'{exp_path}': mu_exp {np.shape(exp['mu_exp'])} and w_exp "
                                 f"{w_exp.shape} do not match")
        if mu_exp.size == 3 * len(keep):
            rows = np.arange(3 * len(keep))
        elif mu_exp.size == 3 * n:
            rows = coords
        else:
            raise ModelFileError(f"'{exp_path}' covers {mu_exp.size // 3} vertices but the model "
                                 f"has {len(keep)} (or {n} untrimmed); use matching files")
        mean = mean + mu_exp[rows].reshape(-1, 3)
        exp_basis = w_exp[rows].reshape(len(keep), 3, -1)
        exp_std = _optional_vector(exp, "sigma_exp", w_exp.shape[1], exp_path)

    mean_texture = texture_basis = None
    if tex_mu is not None:
        mean_texture = np.clip(np.asarray(tex_mu, np.float64).ravel()[coords].reshape(-1, 3) / 255.0, 0, 1)
        if tex_pc is not None:
            texture_basis = (np.asarray(tex_pc, np.float64)[coords] / 255.0).reshape(len(keep), 3, -1)
    return MorphableModel(
        mean=mean, shape_basis=shape_basis, exp_basis=exp_basis, triangles=triangles, uvs=uvs,
        landmark_ids=landmark_ids, mean_texture=mean_texture, shape_std=shape_ev,
        exp_std=exp_std, texture_basis=texture_basis, texture_std=tex_ev,
        name=f"Basel ({path.name})",
        info={"source": str(path), "expression": str(exp_path) if exp_path else None,
              "trimmed": len(keep) != n, "file_vertices": n})


def _optional_vector(data: dict, key: str, length: int | None, path: Path) -> np.ndarray | None:
    if key not in data:
        return None
    value = np.asarray(data[key], np.float64).ravel()
    if length is not None and value.size != length:
        raise ModelFileError(f"'{path}': {key} has {value.size} values, expected {length}")
    return value


def _match_to_asset_vertices(vertices: np.ndarray, assets_dir) -> np.ndarray | None:
    """Indices into ``vertices`` of 3DDFA's 53,215 BFM vertices, or None if they are not all there."""
    from scipy.spatial import cKDTree

    if len(vertices) < NUM_BFM_VERTICES:
        return None
    try:
        u_shp = np.load(asset_path("bfm/u_shp.npy", assets_dir)).reshape(-1, 3).astype(np.float64)
    except Exception:  # noqa: BLE001 - without the asset there is nothing to match against
        return None
    dist, index = cKDTree(vertices).query(u_shp)
    if np.max(dist) > 1.0 or len(np.unique(index)) != len(index):  # micrometres
        return None
    return index
