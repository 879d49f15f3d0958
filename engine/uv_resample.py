"""Resampling UV position maps between PRNet's 256x256 layout and a network's output size.

Both directions keep texel centres aligned: low-resolution texel ``i`` covers the
high-resolution texels ``[i*f, (i+1)*f)`` (``f`` = 256 / size) and sits at their centre,
so averaging down (:func:`downsample_position_map`, training targets) and bilinear
upsampling (:func:`upsample_uv_map`, inference; ``align_corners=False``) are consistent.
Position values (crop pixels) are never scaled: only the UV grid changes.
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
