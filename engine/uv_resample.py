"""Resampling UV position maps between PRNet's 256x256 layout and a network's output size.

Both directions keep texel centres aligned: low-resolution texel ``i`` covers the
high-resolution texels ``[i*f, (i+1)*f)`` (``f`` = 256 / size) and sits at their centre,
so averaging down (:func:`downsample_position_map`, training targets) and bilinear
upsampling (:func:`upsample_uv_map`, inference; ``align_corners=False``) are consistent.
Position values (crop pixels) are never scaled: only the UV grid changes.

Bilinear upsampling is continuous but creased at every low-resolution texel edge: a 32x32
map makes a mesh of flat facets. :class:`UVMapSmoother` rounds them off with a local plane
fit over :func:`smoothing_support` (the texels trained by the loss), so nothing the loss
never constrained is blended into the face.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

UV_MAP_SIZE = 256


def upsample_uv_map(position_map: torch.Tensor, size: int = UV_MAP_SIZE) -> torch.Tensor:
    """(N, C, m, m) -> (N, C, size, size), bilinear with texel centres aligned."""
    if position_map.shape[-1] == size and position_map.shape[-2] == size:
        return position_map
    return F.interpolate(position_map, size=(size, size), mode="bilinear", align_corners=False)


def _area(array: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)


def downsample_position_map(position_map: np.ndarray, valid: np.ndarray | None, size: int
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Average an (H, H, 3) map down to (size, size, 3) over its valid texels only.

    Returns ``(map, coverage)``: ``coverage`` (size, size) float32 is the share of each
    low-resolution texel's area that was valid (0 = no valid sub-texel; its map value is 0).
    ``valid`` None means every texel is valid.
    """
    position_map = np.asarray(position_map, dtype=np.float32)
    height = position_map.shape[0]
    if position_map.ndim != 3 or position_map.shape[1] != height:
        raise ValueError(f"expected a square (H, H, C) map, got {position_map.shape}")
    if valid is None:
        valid = np.ones((height, height), np.float32)
    valid = np.asarray(valid, dtype=np.float32)
    if size == height:
        return position_map * valid[..., None], valid.copy()
    if size > height:
        raise ValueError(f"cannot average a {height}x{height} map up to {size}x{size}")
    coverage = _area(valid, size)
    summed = _area(position_map * valid[..., None], size)
    mean = np.where(coverage[..., None] > 1e-6, summed / np.maximum(coverage, 1e-6)[..., None], 0.0)
    return mean.astype(np.float32), coverage.astype(np.float32)


def downsample_weights(weights: np.ndarray, size: int) -> np.ndarray:
    """Area-average (H, H) loss weights down to (size, size) (a texel's mean weight)."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape[0] == size:
        return weights.copy()
    return _area(weights, size).astype(np.float32)


def read_texel_mask(pixels: np.ndarray, size: int, full_size: int = UV_MAP_SIZE) -> np.ndarray:
    """(size, size) bool: the texels that bilinear upsampling reads to sample ``pixels``.

    ``pixels`` are (column, row) positions in the ``full_size`` map (e.g.
    ``UVLayout.read_pixels``); each reads the 2x2 low-resolution texels around its
    texel-centre-aligned position.
    """
    factor = full_size / size
    points = (np.asarray(pixels, dtype=np.float64) + 0.5) / factor - 0.5
    low = np.floor(points).astype(np.int64)
    mask = np.zeros((size, size), bool)
    for dx in (0, 1):
        for dy in (0, 1):
            cols = np.clip(low[:, 0] + dx, 0, size - 1)
            rows = np.clip(low[:, 1] + dy, 0, size - 1)
            mask[rows, cols] = True
    return mask


def smoothing_support(face_mask: np.ndarray, read_pixels: np.ndarray, size: int,
                      full_size: int = UV_MAP_SIZE) -> np.ndarray:
    """(full_size, full_size) float32: 1 where bilinear upsampling of a ``size`` map reads only
    low-resolution texels the training loss constrains (those overlapping ``face_mask`` and
    those read for a vertex, :func:`read_texel_mask`), else 0."""
    constrained = _area(np.asarray(face_mask, np.float32), size) > 0
    constrained |= read_texel_mask(read_pixels, size, full_size)
    spread = upsample_uv_map(torch.from_numpy(constrained.astype(np.float32))[None, None],
                             full_size)[0, 0].numpy()
    return (spread > 0.999).astype(np.float32)


class UVMapSmoother:
    """Smooths (H, W, C) maps by a local linear fit: at each texel, a plane fitted to the map
    over ``support`` with Gaussian weights of ``sigma`` texels (normalised convolution of order
    one). A plane is kept exactly, also at the support's edge, where a plain average would pull
    the outline inwards; what goes is the curvature within a few texels, e.g. the creases of a
    bilinear upsampling. Texels with too little support around them keep their values. The
    support's part of the fit is computed once, here."""

    def __init__(self, support: np.ndarray, sigma: float) -> None:
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.support = np.asarray(support, np.float32)
        radius = int(np.ceil(3 * sigma))
        offsets = np.arange(-radius, radius + 1, dtype=np.float32)
        gauss = np.exp(-0.5 * (offsets / sigma) ** 2)
        self.kernels = (gauss, gauss * offsets, gauss * offsets ** 2)  # moments 0, 1, 2
        w = self.support
        a, bx, by = self._moment(w, 0, 0), self._moment(w, 1, 0), self._moment(w, 0, 1)
        cxx, cxy, cyy = self._moment(w, 2, 0), self._moment(w, 1, 1), self._moment(w, 0, 2)
        # a small ridge on the slopes keeps nearly one-dimensional neighbourhoods solvable
        cxx, cyy = cxx + 1e-3 * a * sigma ** 2, cyy + 1e-3 * a * sigma ** 2
        # the plane's value at the texel: the first row of the inverse of the symmetric system
        # [[a, bx, by], [bx, cxx, cxy], [by, cxy, cyy]] (its cofactors over its determinant)
        k0, k1, k2 = cxx * cyy - cxy ** 2, by * cxy - bx * cyy, bx * cxy - by * cxx
        det = a * k0 + bx * k1 + by * k2
        self.fitted = (a > 0.05 * float(gauss.sum()) ** 2) & (np.abs(det) > 1e-12 * a ** 3)
        safe = np.where(self.fitted, det, 1.0)
        self.rows = np.stack([k0, k1, k2]) / safe  # (3, H, W)

    def _moment(self, image: np.ndarray, x: int, y: int) -> np.ndarray:
        """Sum over neighbours q of gauss * dx^x * dy^y * image(q), with (dx, dy) = q - p."""
        return cv2.sepFilter2D(image, cv2.CV_64F, self.kernels[x], self.kernels[y],
                               borderType=cv2.BORDER_CONSTANT).reshape(image.shape)

    def __call__(self, uv_map: np.ndarray) -> np.ndarray:
        uv_map = np.asarray(uv_map, np.float32)
        weighted = uv_map * self.support[..., None]
        fit = sum(row[..., None] * self._moment(weighted, x, y)
                  for row, (x, y) in zip(self.rows, ((0, 0), (1, 0), (0, 1))))
        return np.where(self.fitted[..., None], fit, uv_map).astype(np.float32)
