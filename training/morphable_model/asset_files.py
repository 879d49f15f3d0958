"""The asset files the BFM is built from, read and checked (3DDFA's BFM mean, PRNet's UVs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.assets import asset_path
from engine.landmarks import NUM_LANDMARKS

from .model import NUM_BFM_VERTICES, NUM_EXPRESSION, NUM_SHAPE
from .model_files import ModelFileError, read_model_file


ASSET_FILES = ("bfm/u_shp.npy", "bfm/u_exp.npy", "bfm/tri.mat", "bfm/keypoints_sim.npy",
               "bfm/Model_PAF.pkl", "bfm/w_shp_base.txt", "bfm/w_exp_base.txt",
               "bfm_noneck/BFM_UV.mat")


def asset_input_paths(assets_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Where each of :data:`ASSET_FILES` is (see :func:`engine.assets.asset_path`)."""
    return {rel: asset_path(rel, assets_dir) for rel in ASSET_FILES}


def load_asset_arrays(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The mesh (mean, 0-based triangles, UVs, landmark vertex ids) and the 68-landmark bases,
    checked; raises :class:`ModelFileError` naming a file with unexpected contents."""
    import scipy.io

    u_shp = read_model_file(paths["bfm/u_shp.npy"], np.load, "BFM mean shape")
    u_exp = read_model_file(paths["bfm/u_exp.npy"], np.load, "BFM mean expression")
    tri = read_model_file(paths["bfm/tri.mat"], lambda p: scipy.io.loadmat(str(p))["tri"], "BFM triangles")
    keypoints = read_model_file(paths["bfm/keypoints_sim.npy"], np.load, "landmark indices")
    uv = read_model_file(paths["bfm_noneck/BFM_UV.mat"], lambda p: scipy.io.loadmat(str(p))["UV"], "BFM UVs")
    w_shp = read_model_file(paths["bfm/w_shp_base.txt"], np.loadtxt, "landmark shape basis")
    w_exp = read_model_file(paths["bfm/w_exp_base.txt"], np.loadtxt, "landmark expression basis")
    n = NUM_BFM_VERTICES
    checks = [
        (u_shp.size == 3 * n and u_exp.size == 3 * n, "bfm/u_shp.npy, bfm/u_exp.npy"),
        (tri.shape[0] == 3 and tri.min() == 1 and tri.max() == n, "bfm/tri.mat"),
        (keypoints.shape == (3 * NUM_LANDMARKS,) and np.all(keypoints[::3] % 3 == 0)
         and np.all(keypoints[1::3] == keypoints[::3] + 1), "bfm/keypoints_sim.npy"),
        (uv.shape == (n, 2), "bfm_noneck/BFM_UV.mat"),
        (w_shp.shape == (3 * NUM_LANDMARKS, NUM_SHAPE), "bfm/w_shp_base.txt"),
        (w_exp.shape == (3 * NUM_LANDMARKS, NUM_EXPRESSION), "bfm/w_exp_base.txt"),
    ]
    for ok, name in checks:
        if not ok:
            raise ModelFileError(f"face-model asset '{name}' has unexpected contents; "
                                 f"replace it or run `prnet fetch-assets`")
    return {
        "mean": (u_shp + u_exp).reshape(n, 3).astype(np.float64),
        "triangles": tri.T.astype(np.int64) - 1,
        "landmark_ids": keypoints[::3].astype(np.int64) // 3,
        "uvs": uv.astype(np.float64),
        "w_shp_base": w_shp.reshape(NUM_LANDMARKS, 3, NUM_SHAPE),
        "w_exp_base": w_exp.reshape(NUM_LANDMARKS, 3, NUM_EXPRESSION),
    }
