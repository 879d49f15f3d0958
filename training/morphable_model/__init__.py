"""The Basel Face Model (BFM) as a linear morphable model, and 300W-LP fits.

Face-model data derived from the Basel Face Model is for non-commercial research only.

Three ways to get a :class:`MorphableModel`:

- :func:`load_bfm_from_assets`: from the shared asset files (3DDFA's BFM mean over
  53,215 vertices, triangles, 68 landmark vertices, PRNet's UVs). The 40-mode shape
  basis is spread over the mesh from ``Model_PAF.pkl`` (sampled on a 64x64 grid of
  surface points) by Laplacian-regularised interpolation; the 10-mode expression basis
  is spread from the exact 68-landmark basis ``w_exp_base.txt``, because
  ``Model_PAF.pkl``'s ``w_exp_filter`` is not an expression basis at all: it is
  bit-identical to the first 10 columns of its shape basis ``w_filter``. The derived
  bases are cached in the user cache (never in git), keyed by the inputs' sha256.
- :func:`load_basel_mat`: the original ``01_MorphableModel.mat`` (+ an expression file
  such as 3DDFA's ``Model_Expression.mat``), trimmed to 3DDFA's 53,215 vertices when the
  asset mean identifies them.
- your own arrays, through the dataclass.

Modules: :mod:`.model` (the dataclass, sizes, fit spreads), :mod:`.model_files` (reading),
:mod:`.asset_files`, :mod:`.mesh_fitting` and :mod:`.basis_derivation` (the dense bases),
:mod:`.asset_model` (:func:`load_bfm_from_assets`), :mod:`.basel` and :mod:`.fit_300wlp`.

Units and frames: raw BFM coordinates are in micrometres, x right, y up, z towards the
viewer (out of the face). Shape coefficients multiply orthonormal principal components,
so they are in micrometres too (300W-LP ``Shape_Para`` spreads are ~1e5); expression
coefficients multiply 3DDFA's expression basis and are of order 1.
"""

from __future__ import annotations

from engine.landmarks import NUM_LANDMARKS

from .asset_files import ASSET_FILES, asset_input_paths, load_asset_arrays
from .asset_model import load_bfm_from_assets, vertex_colors_from_uv_texture
from .basel import load_basel_mat
from .basis_derivation import derive_bfm_bases, expression_crossvalidation, spread_landmark_basis
from .fit_300wlp import Fit300WLP, load_300wlp_fit, pose_from_300wlp, pose_vertices, rotation_300wlp
from .mesh_fitting import closest_points_on_mesh, mesh_laplacian, relative_error, spread_over_mesh
from .model import (FIT_EXP_MEAN, FIT_EXP_STD, FIT_SHAPE_MEAN, FIT_SHAPE_STD, NUM_BFM_VERTICES,
                    NUM_EXPRESSION, NUM_SHAPE, MorphableModel)
from .model_files import ModelFileError

__all__ = ["ASSET_FILES", "FIT_EXP_MEAN", "FIT_EXP_STD", "FIT_SHAPE_MEAN", "FIT_SHAPE_STD",
           "NUM_BFM_VERTICES", "NUM_EXPRESSION", "NUM_LANDMARKS", "NUM_SHAPE", "Fit300WLP",
           "ModelFileError", "MorphableModel", "asset_input_paths", "closest_points_on_mesh",
           "derive_bfm_bases", "expression_crossvalidation", "load_300wlp_fit", "load_asset_arrays",
           "load_basel_mat", "load_bfm_from_assets", "mesh_laplacian", "pose_from_300wlp",
           "pose_vertices", "relative_error", "rotation_300wlp", "spread_landmark_basis",
           "spread_over_mesh", "vertex_colors_from_uv_texture"]
