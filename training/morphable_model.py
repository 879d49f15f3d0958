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

Units and frames: raw BFM coordinates are in micrometres, x right, y up, z towards the
viewer (out of the face). Shape coefficients multiply orthonormal principal components,
so they are in micrometres too (300W-LP ``Shape_Para`` spreads are ~1e5); expression
coefficients multiply 3DDFA's expression basis and are of order 1.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.assets import asset_path, user_cache_dir
from engine.errors import PRNetError
from engine.fileio import atomic_write_with
from engine.mesh_geometry import closest_points_on_mesh, mesh_laplacian
from engine.pose import euler_to_rotation

log = logging.getLogger(__name__)

NUM_BFM_VERTICES = 53215
NUM_LANDMARKS = 68
NUM_SHAPE = 40
NUM_EXPRESSION = 10

# Spread (standard deviation) and centre of 3DDFA's fits to 300W-LP for the 40 shape and
# 10 expression coefficients (cleardusk/3DDFA c++/weights/param_std.txt / param_mean.txt,
# rounded). The synthetic generator samples around them; they also say what "one sigma"
# means for the asset model, which has no eigenvalues of its own.
FIT_SHAPE_STD = np.array([
    587858, 347659, 269367, 267655, 159343, 150143, 111209, 92208, 115107, 83358,
    88284, 71007, 69408, 49622, 57227, 45345, 48215, 38291, 44814, 48098,
    36484, 28732, 31575, 35194, 31334, 25185, 24481, 27281, 24103, 20607,
    19271, 19845, 17354, 23361, 16269, 15820, 14747, 13780, 13890, 13993], dtype=np.float64)
FIT_SHAPE_MEAN = np.array([
    -304705, 37490, 19556, -67358, 21690, -68764, -4529, -6818, -79786, 6950,
    -28005, 32311, -14112, -7049, -21387, 12894, -5944, 2517, -14573, 5739,
    -3876, -12167, -5972, -22273, 1971, -6553, -9948, 323, -8585, 1006,
    -3904, -1081, -1305, 1383, -7543, -9579, 1360, 6043, -1652, 5375], dtype=np.float64)
FIT_EXP_STD = np.array([1.5068, 1.3883, 0.5376, 0.5282, 0.1931, 0.2361, 0.2542, 0.3519,
                        0.1462, 0.2411], dtype=np.float64)
FIT_EXP_MEAN = np.array([-0.9665, 0.4885, -0.1281, 0.0241, 0.0311, -0.1162, -0.0686,
                         -0.1286, -0.0075, -0.1037], dtype=np.float64)

# Bump when the derivation changes so stale caches are not reused.
_DERIVATION_VERSION = "bfm-basis-v1"
# Grid samples of Model_PAF.pkl farther than this (micrometres) from the mean mesh are not
# surface points (the 64x64 grid's corners overhang the face) and are ignored.
_GRID_ON_SURFACE_TOL = 50.0


class ModelFileError(PRNetError):
    """A morphable-model or fit file is missing, unreadable or has unexpected contents."""


@dataclass
class MorphableModel:
    """A linear 3D face model: ``mean + shape_basis @ shape + exp_basis @ exp``.

    Arrays (N vertices, M triangles):
        mean (N, 3), shape_basis (N, 3, Ks), exp_basis (N, 3, Ke) float32, raw model units;
        triangles (M, 3) int64 0-based; uvs (N, 2) in [0, 1] or None; landmark_ids (68,)
        or None; mean_texture (N, 3) RGB in [0, 1] or None.
    ``shape_std`` / ``exp_std`` (and ``*_mean``) give the natural scale of the coefficients
    when known (BFM eigenvalues or the spread of 300W-LP fits). ``info`` records where the
    model came from and how well derived parts match their references.
    """

    mean: np.ndarray
    shape_basis: np.ndarray
    exp_basis: np.ndarray
    triangles: np.ndarray
    uvs: np.ndarray | None = None
    landmark_ids: np.ndarray | None = None
    mean_texture: np.ndarray | None = None
    shape_std: np.ndarray | None = None
    exp_std: np.ndarray | None = None
    shape_mean: np.ndarray | None = None
    exp_mean: np.ndarray | None = None
    texture_basis: np.ndarray | None = None   # (N, 3, Kt) or None (Basel files)
    texture_std: np.ndarray | None = None
    name: str = "morphable model"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mean = np.ascontiguousarray(self.mean, dtype=np.float32)
        n = self.mean.shape[0]
        if self.mean.shape != (n, 3):
            raise ValueError(f"{self.name}: mean must be (N, 3), got {self.mean.shape}")
        self.shape_basis = _as_basis(self.shape_basis, n, "shape_basis", self.name)
        self.exp_basis = _as_basis(self.exp_basis, n, "exp_basis", self.name)
        self.triangles = np.ascontiguousarray(self.triangles, dtype=np.int64)
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError(f"{self.name}: triangles must be (M, 3), got {self.triangles.shape}")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            raise ValueError(f"{self.name}: triangle indices out of range for {n} vertices")
        if self.uvs is not None:
            self.uvs = np.asarray(self.uvs, dtype=np.float64)
            if self.uvs.shape != (n, 2):
                raise ValueError(f"{self.name}: uvs must be ({n}, 2), got {self.uvs.shape}")
        if self.landmark_ids is not None:
            self.landmark_ids = np.asarray(self.landmark_ids, dtype=np.int64).ravel()
            if self.landmark_ids.min() < 0 or self.landmark_ids.max() >= n:
                raise ValueError(f"{self.name}: landmark ids out of range for {n} vertices")
        if self.mean_texture is not None:
            self.mean_texture = np.asarray(self.mean_texture, dtype=np.float32)
            if self.mean_texture.shape != (n, 3):
                raise ValueError(f"{self.name}: mean_texture must be ({n}, 3)")

    @property
    def num_vertices(self) -> int:
        return self.mean.shape[0]

    @property
    def num_shape(self) -> int:
        return self.shape_basis.shape[2]

    @property
    def num_expression(self) -> int:
        return self.exp_basis.shape[2]

    @functools.cached_property
    def _flat_bases(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.num_vertices
        return (self.shape_basis.reshape(n * 3, -1), self.exp_basis.reshape(n * 3, -1))

    def vertices(self, shape_coeffs: np.ndarray | None = None, exp_coeffs: np.ndarray | None = None,
                 truncate: bool = False) -> np.ndarray:
        """(N, 3) float32 vertices in model units for the given coefficients (None = zeros).

        Longer coefficient vectors than the model has modes (e.g. 300W-LP's 199 shape /
        29 expression values against the 40 / 10 mode asset model) raise unless
        ``truncate=True``, which uses the leading modes only.
        """
        flat_shape, flat_exp = self._flat_bases
        out = self.mean.reshape(-1).astype(np.float32, copy=True)
        for coeffs, basis, what in ((shape_coeffs, flat_shape, "shape"),
                                    (exp_coeffs, flat_exp, "expression")):
            if coeffs is None:
                continue
            c = np.asarray(coeffs, dtype=np.float32).ravel()
            if c.size > basis.shape[1]:
                if not truncate:
                    raise ValueError(f"{self.name}: {c.size} {what} coefficients for a "
                                     f"{basis.shape[1]}-mode basis (pass truncate=True)")
                c = c[:basis.shape[1]]
            if c.size:
                out += basis[:, :c.size] @ c
        return out.reshape(-1, 3)

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        if self.landmark_ids is None:
            raise ValueError(f"{self.name} has no landmark vertices")
        return np.asarray(vertices)[self.landmark_ids]


def _as_basis(basis: np.ndarray, n: int, what: str, name: str) -> np.ndarray:
    basis = np.asarray(basis, dtype=np.float32)
    if basis.ndim == 2 and basis.shape[0] == 3 * n:  # flattened x, y, z, x, y, z, ...
        basis = basis.reshape(n, 3, -1)
    if basis.ndim != 3 or basis.shape[:2] != (n, 3):
        raise ValueError(f"{name}: {what} must be ({n}, 3, K) or ({3 * n}, K), got {basis.shape}")
    return np.ascontiguousarray(basis)


# ----------------------------------------------------------------------------- mesh tools


def spread_over_mesh(sample_vertex_ids: np.ndarray, sample_weights: np.ndarray,
                     sample_values: np.ndarray, laplacian, degree: np.ndarray,
                     smoothness: float = 1e-3, ridge: float = 1e-9) -> np.ndarray:
    """Fill per-vertex values from samples at surface points by a smooth least-squares fit.

    Minimises ``sum_s |sum_k w_sk X[v_sk] - y_s|^2 + smoothness * |L X|^2_(D^-1) + ridge |X|^2``
    where the sample s lies at barycentric weights w_sk of vertices v_sk, and ``L`` is the
    mesh Laplacian (so the regulariser is a bi-Laplacian: the fill is as-smooth-as-possible
    between samples and extrapolates gently beyond them). Returns (N, C).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = laplacian.shape[0]
    ids = np.asarray(sample_vertex_ids, dtype=np.int64)
    weights = np.asarray(sample_weights, dtype=np.float64)
    if ids.ndim == 1:
        ids = ids[:, None]
    if weights.ndim == 1:
        weights = weights[:, None]
    s = len(ids)
    sampling = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(s), ids.shape[1]), ids.ravel())),
                             shape=(s, n))
    bilaplacian = laplacian.T @ sp.diags(1.0 / np.maximum(degree, 1)) @ laplacian
    system = (sampling.T @ sampling + smoothness * bilaplacian + ridge * sp.eye(n)).tocsc()
    rhs = sampling.T @ np.asarray(sample_values, dtype=np.float64)
    return splu(system).solve(np.asarray(rhs))


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Frobenius-norm relative error |estimate - reference| / |reference|."""
    reference = np.asarray(reference, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(estimate, np.float64) - reference) / np.linalg.norm(reference))


# ----------------------------------------------------------------------------- asset model


_ASSET_FILES = ("bfm/u_shp.npy", "bfm/u_exp.npy", "bfm/tri.mat", "bfm/keypoints_sim.npy",
                "bfm/Model_PAF.pkl", "bfm/w_shp_base.txt", "bfm/w_exp_base.txt",
                "bfm_noneck/BFM_UV.mat")


def _read(path: Path, loader, what: str):
    try:
        return loader(path)
    except Exception as exc:  # a truncated or foreign file: say which and how to fix it
        raise ModelFileError(f"'{path}' ({what}) is unreadable ({exc.__class__.__name__}: {exc}); "
                             f"replace it or run `prnet fetch-assets`") from exc


def _load_pickle(path: Path):
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _loadmat(path: Path, what: str) -> dict:
    import scipy.io

    if not Path(path).is_file():
        raise ModelFileError(f"'{path}' ({what}) does not exist; check the path")
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        return _loadmat_hdf5(Path(path), what)
    except Exception as exc:
        raise ModelFileError(f"'{path}' ({what}) is not a readable .mat file "
                             f"({exc.__class__.__name__}: {exc}); re-download it") from exc


def _loadmat_hdf5(path: Path, what: str) -> dict:
    try:
        import h5py
    except ImportError:
        raise ModelFileError(f"'{path}' ({what}) is a MATLAB v7.3 (HDF5) file; install h5py "
                             f"or re-save it with `save -v7`") from None
    try:
        with h5py.File(path, "r") as handle:
            # HDF5 stores MATLAB arrays transposed.
            return {key: np.asarray(handle[key]).T for key in handle.keys()
                    if isinstance(handle[key], h5py.Dataset)}
    except Exception as exc:
        raise ModelFileError(f"'{path}' ({what}) is not a readable .mat file "
                             f"({exc.__class__.__name__}: {exc}); re-download it") from exc


def _asset_inputs(assets_dir) -> dict[str, Path]:
    return {rel: asset_path(rel, assets_dir) for rel in _ASSET_FILES}


def _inputs_key(paths: dict[str, Path]) -> str:
    from engine.assets import sha256_file

    digest = hashlib.sha256(_DERIVATION_VERSION.encode())
    for rel in sorted(paths):
        digest.update(rel.encode())
        digest.update(sha256_file(paths[rel]).encode())
    return digest.hexdigest()


def _load_asset_arrays(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    import scipy.io

    u_shp = _read(paths["bfm/u_shp.npy"], np.load, "BFM mean shape")
    u_exp = _read(paths["bfm/u_exp.npy"], np.load, "BFM mean expression")
    tri = _read(paths["bfm/tri.mat"], lambda p: scipy.io.loadmat(str(p))["tri"], "BFM triangles")
    keypoints = _read(paths["bfm/keypoints_sim.npy"], np.load, "landmark indices")
    uv = _read(paths["bfm_noneck/BFM_UV.mat"], lambda p: scipy.io.loadmat(str(p))["UV"], "BFM UVs")
    w_shp = _read(paths["bfm/w_shp_base.txt"], np.loadtxt, "landmark shape basis")
    w_exp = _read(paths["bfm/w_exp_base.txt"], np.loadtxt, "landmark expression basis")
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
    arrays = _load_asset_arrays(paths)
    paf = _read(paths["bfm/Model_PAF.pkl"], _load_pickle, "Model_PAF grid bases")
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
        "version": _DERIVATION_VERSION,
    }
    return {"shape_basis": shape.astype(np.float32), "exp_basis": expression.astype(np.float32),
            "report": report}


# Weights of the landmark constraints and of the "held still" outer border, relative to a
# unit bi-Laplacian smoothness weight per vertex.
_LANDMARK_WEIGHT = 1e3
_BORDER_WEIGHT = 1e-2


def boundary_vertices(triangles: np.ndarray) -> np.ndarray:
    """Vertices on edges used by exactly one triangle (mesh borders and holes)."""
    tris = np.asarray(triangles, dtype=np.int64)
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[counts == 1])


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
        outer_border = _outer_border(tris, num_vertices)
    outer_border = np.setdiff1d(outer_border, lm)
    values = np.asarray(landmark_basis, np.float64).reshape(len(lm), -1)
    ids = np.concatenate([lm, outer_border])
    w = np.concatenate([np.full(len(lm), np.sqrt(_LANDMARK_WEIGHT)),
                        np.full(len(outer_border), np.sqrt(_BORDER_WEIGHT))])
    rhs = np.concatenate([values, np.zeros((len(outer_border), values.shape[1]))]) * w[:, None]
    out = spread_over_mesh(ids, w, rhs, lap, degree, smoothness)
    return out.reshape(num_vertices, 3, -1)


def _outer_border(triangles: np.ndarray, num_vertices: int) -> np.ndarray:
    """Border vertices except those of holes (the mouth slit): the largest border loop."""
    from scipy.sparse.csgraph import connected_components
    import scipy.sparse as sp

    border = boundary_vertices(triangles)
    tris = np.asarray(triangles, dtype=np.int64)
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border_edges = unique[counts == 1]
    graph = sp.coo_matrix((np.ones(len(border_edges)), (border_edges[:, 0], border_edges[:, 1])),
                          shape=(num_vertices, num_vertices))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels[border])
    return border[labels[border] == np.argmax(sizes)]


def expression_crossvalidation(assets_dir: str | os.PathLike | None = None, folds: int = 4,
                               smoothness: float = 1e-3) -> float:
    """Relative error of the spread expression basis at landmarks it was NOT given.

    The landmarks are split into ``folds`` groups; each group is predicted from the
    others. Slow (one solve per fold); an honest measure of how well 68 points pin down
    the dense expression basis (the fit residual at the landmarks themselves is ~0).
    """
    arrays = _load_asset_arrays(_asset_inputs(assets_dir))
    lm, tris, n = arrays["landmark_ids"], arrays["triangles"], len(arrays["mean"])
    lap = mesh_laplacian(tris, n)
    border = _outer_border(tris, n)
    fold_of = np.arange(NUM_LANDMARKS) % folds
    predicted = np.zeros_like(arrays["w_exp_base"])
    for f in range(folds):
        train = fold_of != f
        spread = spread_landmark_basis(arrays["w_exp_base"][train], lm[train], tris, n,
                                       smoothness, laplacian=lap, outer_border=border)
        predicted[~train] = spread[lm[~train]]
    return relative_error(predicted, arrays["w_exp_base"])


def _cached_bases(paths: dict[str, Path], use_cache: bool) -> dict[str, Any]:
    key = _inputs_key(paths)
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
    paths = _asset_inputs(assets_dir)
    arrays = _load_asset_arrays(paths)
    derived = _cached_bases(paths, use_cache)
    texture = None
    if with_texture:
        from PIL import Image

        tex_path = asset_path("prnet/uv-data/uv_face.png", assets_dir)
        image = _read(tex_path, lambda p: np.asarray(Image.open(p).convert("RGB")), "mean texture")
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


# ----------------------------------------------------------------------------- Basel .mat


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
    data = _loadmat(path, "Basel Face Model")
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
            assets = _load_asset_arrays(_asset_inputs(assets_dir))
            triangles, uvs, landmark_ids = assets["triangles"], assets["uvs"], assets["landmark_ids"]
    coords = (3 * keep[:, None] + np.arange(3)).ravel()
    mean = shape_mu[coords].reshape(-1, 3)
    shape_basis = shape_pc[coords].reshape(len(keep), 3, -1)

    exp_basis = np.zeros((len(keep), 3, 0))
    exp_std = None
    if exp_path is not None:
        exp_path = Path(exp_path)
        exp = _loadmat(exp_path, "expression basis")
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


# ----------------------------------------------------------------------------- 300W-LP fits


@dataclass(frozen=True)
class Fit300WLP:
    """One 300W-LP / AFLW2000-3D fit: 3DMM coefficients and pose (see :func:`pose_vertices`)."""

    shape_para: np.ndarray          # (199,) or (40,)
    exp_para: np.ndarray            # (29,) or (10,)
    pose_para: np.ndarray           # (7,) pitch, yaw, roll (radians), tx, ty, tz, scale
    pt2d: np.ndarray | None = None  # (2, K) annotated 2D points if present
    pt3d_68: np.ndarray | None = None  # (3, 68) AFLW2000-3D landmarks if present
    path: str = ""

    @property
    def angles_degrees(self) -> tuple[float, float, float]:
        """(pitch, yaw, roll) in degrees, in the file's own sign convention."""
        pitch, yaw, roll = np.degrees(self.pose_para[:3])
        return float(pitch), float(yaw), float(roll)


def load_300wlp_fit(mat_path: str | os.PathLike) -> Fit300WLP:
    """Read ``Shape_Para``, ``Exp_Para``, ``Pose_Para`` (+ ``pt2d``, ``pt3d_68``) from a 300W-LP
    or AFLW2000-3D ``.mat``; raises :class:`ModelFileError` naming the file otherwise."""
    path = Path(mat_path)
    data = _loadmat(path, "300W-LP fit")
    out = {}
    for key, sizes in (("Shape_Para", (199, 40)), ("Exp_Para", (29, 10)), ("Pose_Para", (7,))):
        if key not in data:
            raise ModelFileError(f"'{path}' has no '{key}': not a 300W-LP/AFLW2000-3D fit file")
        value = np.asarray(data[key], np.float64).ravel()
        if value.size not in sizes:
            raise ModelFileError(f"'{path}': {key} has {value.size} values, expected "
                                 f"{' or '.join(map(str, sizes))}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"'{path}': {key} contains NaN or infinite values")
        out[key] = value
    pt2d = np.asarray(data["pt2d"], np.float64) if "pt2d" in data else None
    pt3d = np.asarray(data["pt3d_68"], np.float64) if "pt3d_68" in data else None
    if pt3d is not None and pt3d.shape != (3, NUM_LANDMARKS):
        pt3d = pt3d.T if pt3d.shape == (NUM_LANDMARKS, 3) else None
    return Fit300WLP(out["Shape_Para"], out["Exp_Para"], out["Pose_Para"], pt2d, pt3d, str(path))


def rotation_300wlp(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """3DDFA's rotation for 300W-LP angles (radians): R = Rx(pitch) @ Ry(yaw) @ Rz(roll) with
    Rx = [[1,0,0],[0,c,s],[0,-s,c]], Ry = [[c,0,-s],[0,1,0],[s,0,c]], Rz = [[c,s,0],[-s,c,0],[0,0,1]]
    (each the transpose of the usual right-handed rotation): the transpose of the engine's
    yaw/pitch/roll rotation."""
    return euler_to_rotation(*np.degrees([yaw, pitch, roll])).T


def pose_from_300wlp(pitch: float, yaw: float, roll: float) -> tuple[float, float, float]:
    """300W-LP / AFLW2000-3D ``Pose_Para`` angles (radians) -> the engine's (yaw, pitch, roll).

    In the image frame (y down) the 300W-LP rotation is F @ R @ F with F = diag(1, -1, 1)
    and R = :func:`rotation_300wlp`, i.e. Rx(pitch) @ Ry(-yaw) @ Rz(roll) with the usual
    right-handed matrices; it is decomposed in the engine's order
    (``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, :func:`engine.pose.rotation_to_euler`). For small
    angles that is (-yaw, pitch, roll); in general the angles mix.
    """
    from engine.pose import rotation_to_euler

    flip = np.diag([1.0, -1.0, 1.0])
    return rotation_to_euler(flip @ rotation_300wlp(pitch, yaw, roll) @ flip)


def pose_vertices(vertices: np.ndarray, pose_para: np.ndarray, image_height: int,
                  convention: str = "face3d") -> np.ndarray:
    """Model vertices (N, 3, BFM units, y up) -> image pixels with 300W-LP's pose.

    The 300W-LP convention (3DDFA's fitting, orthographic camera):
        p = scale * R @ v + (tx, ty, tz),  R = :func:`rotation_300wlp` (pitch, yaw, roll)
    which gives a y-up frame in pixels; the image frame flips y:
        convention "face3d" (PRNet's 300W-LP generation, face3d): x_img = p_x,
            y_img = image_height - p_y - 1;
        convention "3ddfa" (3DDFA's Python code, MATLAB 1-based origin moved to 0):
            x_img = p_x - 1, y_img = image_height - p_y.
    z stays as is (larger = nearer the camera), so the result is in the engine's image
    frame: x right, y down, z towards the camera, all in pixels.
    """
    pose = np.asarray(pose_para, np.float64).ravel()
    if pose.size != 7:
        raise ValueError(f"pose_para must have 7 values (pitch, yaw, roll, tx, ty, tz, scale), "
                         f"got {pose.size}")
    rotation = rotation_300wlp(*pose[:3])
    posed = pose[6] * np.asarray(vertices, np.float64) @ rotation.T + pose[3:6]
    if convention == "face3d":
        posed[:, 1] = image_height - posed[:, 1] - 1
    elif convention == "3ddfa":
        posed[:, 0] -= 1
        posed[:, 1] = image_height - posed[:, 1]
    else:
        raise ValueError(f"convention must be 'face3d' or '3ddfa', got {convention!r}")
    return posed
