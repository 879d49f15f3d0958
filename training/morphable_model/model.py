"""The linear morphable model (:class:`MorphableModel`) and the BFM's sizes and fit spreads."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

NUM_BFM_VERTICES = 53215
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
