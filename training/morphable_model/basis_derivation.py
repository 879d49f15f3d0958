"""Deriving the dense shape and expression bases of the asset BFM from sparse samples."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.landmarks import NUM_LANDMARKS
from engine.mesh_edges import outer_border_loop

from .asset_files import asset_input_paths, load_asset_arrays
from .mesh_fitting import closest_points_on_mesh, mesh_laplacian, relative_error, spread_over_mesh
from .model import NUM_EXPRESSION, NUM_SHAPE
from .model_files import ModelFileError, load_pickle, read_model_file

# Bump when the derivation changes so stale caches are not reused.
DERIVATION_VERSION = "bfm-basis-v1"
# Grid samples of Model_PAF.pkl farther than this (micrometres) from the mean mesh are not
# surface points (the 64x64 grid's corners overhang the face) and are ignored.
_GRID_ON_SURFACE_TOL = 50.0


def derive_bfm_bases(paths: dict[str, Path], smoothness: float = 1e-3) -> dict[str, Any]:
    """Spread the 40-shape / 10-expression bases over the 53,215 asset vertices.

    Shape: ``Model_PAF.pkl``'s grid samples are located on the mean surface (closest point,
    barycentric) and the basis is fitted to them with a bi-Laplacian smoothness term
    (:func:`spread_over_mesh`). Expression: ``Model_PAF.pkl``'s ``w_exp_filter`` is a copy
    of the first 10 shape columns, so the exact 68-landmark basis ``w_exp_base.txt`` is
    spread instead (strong soft constraints at the landmark vertices, the mesh's outer
    border held still, bi-Laplacian in between; the mouth slit of the mesh keeps the lips
    apart). Returns both bases and a report with relative Frobenius errors at the 68
    landmarks against ``w_shp_base.txt`` / ``w_exp_base.txt``. Takes about a minute on one
    core (two sparse LU factorisations of the 53,215-vertex bi-Laplacian system).
    """
    arrays = load_asset_arrays(paths)
    paf = read_model_file(paths["bfm/Model_PAF.pkl"], load_pickle, "Model_PAF grid bases")
    try:
        mu_grid = np.asarray(paf["mu_filter"], np.float64).reshape(-1, 3)
        w_grid = np.asarray(paf["w_filter"], np.float64).reshape(-1, 3, NUM_SHAPE)
        w_exp_grid = np.asarray(paf["w_exp_filter"], np.float64).reshape(-1, 3, NUM_EXPRESSION)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"'{paths['bfm/Model_PAF.pkl']}' has unexpected contents ({exc}); "
                             f"replace it or run `prnet fetch-assets`") from None
    mean, tris, lm = arrays["mean"], arrays["triangles"], arrays["landmark_ids"]
    n = len(mean)
    laplacian, degree = mesh_laplacian(tris, n)

    # 1. Shape: the grid samples are points on the mean surface; locate them and fit.
    tri_ids, bary, dist = closest_points_on_mesh(mu_grid, mean, tris)
    on_surface = dist < _GRID_ON_SURFACE_TOL
    ids, weights = tris[tri_ids[on_surface]], bary[on_surface]
    grid_values = w_grid[on_surface].reshape(on_surface.sum(), -1)
    # Model_PAF's "expression" grid is the shape grid's first 10 columns (checked here), so
    # its spread is the shape spread's first 10 modes: no second solve needed.
    exp_is_shape_copy = bool(np.array_equal(w_exp_grid, w_grid[:, :, :NUM_EXPRESSION]))
    shape = spread_over_mesh(ids, weights, grid_values, laplacian, degree,
                             smoothness).reshape(n, 3, NUM_SHAPE)
    shape_err = relative_error(shape[lm], arrays["w_shp_base"])
    if exp_is_shape_copy:
        paf_exp = shape[:, :, :NUM_EXPRESSION]
    else:
        paf_exp = spread_over_mesh(ids, weights, w_exp_grid[on_surface].reshape(on_surface.sum(), -1),
                                   laplacian, degree, smoothness).reshape(n, 3, NUM_EXPRESSION)
    paf_exp_err = relative_error(paf_exp[lm], arrays["w_exp_base"])
    a = paf_exp[lm].reshape(-1, NUM_EXPRESSION)
    b = arrays["w_exp_base"].reshape(-1, NUM_EXPRESSION)
    cosines = (a * b).sum(0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))

    # 2. Expression actually used: the exact landmark basis spread over the mesh.
    expression = spread_landmark_basis(arrays["w_exp_base"], lm, tris, n, smoothness,
                                       laplacian=(laplacian, degree))
    exp_fit_err = relative_error(expression[lm], arrays["w_exp_base"])

    report = {
        "shape_landmark_rel_error": shape_err,
        "shape_grid_points_used": int(on_surface.sum()),
        "shape_grid_points_off_surface": int((~on_surface).sum()),
        "paf_w_exp_filter_equals_w_filter_first10": exp_is_shape_copy,
        "paf_expression_landmark_rel_error": paf_exp_err,
        "paf_expression_column_cosines": [round(float(c), 4) for c in cosines],
        "expression_source": "w_exp_base.txt (68 landmarks) spread by bi-Laplacian interpolation",
        "expression_landmark_fit_rel_error": exp_fit_err,
        "smoothness": smoothness,
        "version": DERIVATION_VERSION,
    }
    return {"shape_basis": shape.astype(np.float32), "exp_basis": expression.astype(np.float32),
            "report": report}


# Weights of the landmark constraints and of the "held still" outer border, relative to a
# unit bi-Laplacian smoothness weight per vertex.
_LANDMARK_WEIGHT = 1e3
_BORDER_WEIGHT = 1e-2


def spread_landmark_basis(landmark_basis: np.ndarray, landmark_ids: np.ndarray,
                          triangles: np.ndarray, num_vertices: int, smoothness: float = 1e-3,
                          laplacian=None, outer_border: np.ndarray | None = None) -> np.ndarray:
    """Spread a basis known at a few landmark vertices ((L, 3, K)) over the mesh -> (N, 3, K).

    Soft constraints at the landmarks, a weak pull to zero on the mesh's outer border (the
    edge of the scalp, behind the ears, the bottom of the neck: parts an expression does
    not move) and a bi-Laplacian smoothness term in between.
    """
    tris = np.asarray(triangles, dtype=np.int64)
    lm = np.asarray(landmark_ids, dtype=np.int64)
    if laplacian is None:
        laplacian = mesh_laplacian(tris, num_vertices)
    lap, degree = laplacian
    if outer_border is None:
        outer_border = outer_border_loop(tris, num_vertices)
    outer_border = np.setdiff1d(outer_border, lm)
    values = np.asarray(landmark_basis, np.float64).reshape(len(lm), -1)
    ids = np.concatenate([lm, outer_border])
    w = np.concatenate([np.full(len(lm), np.sqrt(_LANDMARK_WEIGHT)),
                        np.full(len(outer_border), np.sqrt(_BORDER_WEIGHT))])
    rhs = np.concatenate([values, np.zeros((len(outer_border), values.shape[1]))]) * w[:, None]
    out = spread_over_mesh(ids, w, rhs, lap, degree, smoothness)
    return out.reshape(num_vertices, 3, -1)


def expression_crossvalidation(assets_dir: str | os.PathLike | None = None, folds: int = 4,
                               smoothness: float = 1e-3) -> float:
    """Relative error of the spread expression basis at landmarks it was NOT given.

    The landmarks are split into ``folds`` groups; each group is predicted from the
    others. Slow (one solve per fold); an honest measure of how well 68 points pin down
    the dense expression basis (the fit residual at the landmarks themselves is ~0).
    """
    arrays = load_asset_arrays(asset_input_paths(assets_dir))
    lm, tris, n = arrays["landmark_ids"], arrays["triangles"], len(arrays["mean"])
    lap = mesh_laplacian(tris, n)
    border = outer_border_loop(tris, n)
    fold_of = np.arange(NUM_LANDMARKS) % folds
    predicted = np.zeros_like(arrays["w_exp_base"])
    for f in range(folds):
        train = fold_of != f
        spread = spread_landmark_basis(arrays["w_exp_base"][train], lm[train], tris, n,
                                       smoothness, laplacian=lap, outer_border=border)
        predicted[~train] = spread[lm[~train]]
    return relative_error(predicted, arrays["w_exp_base"])
