"""Procedural textures shared by the background, the occluders and the clothing."""

from __future__ import annotations

import cv2
import numpy as np


def value_noise(rng: np.random.Generator, size: int, octaves: int = 4, base: int = 4) -> np.ndarray:
    """(size, size) float32 noise in about [0, 1]: octaves of random grids, bicubically upsampled."""
    out = np.zeros((size, size), np.float32)
    amplitude, total = 1.0, 0.0
    cells = base
    for _ in range(octaves):
        small = rng.random((cells, cells)).astype(np.float32)
        out += amplitude * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= 0.5
        cells *= 2
    return out / total


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour (float32, 0..1) drawn uniformly in HSV."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 255), rng.uniform(20, 255)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0
