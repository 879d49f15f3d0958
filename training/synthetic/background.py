"""Procedural backgrounds: value noise, gradients, blobs, stripes and checks, mixtures."""

from __future__ import annotations

import cv2
import numpy as np

from .textures import random_colour, value_noise


def random_background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """A (size, size, 3) float32 RGB background in [0, 1] and the name of its kind."""
    kind = rng.choice(["noise", "gradient", "blobs", "stripes", "mix", "flat"],
                      p=[0.25, 0.15, 0.2, 0.1, 0.25, 0.05])
    c1, c2 = random_colour(rng), random_colour(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "flat":
        bg = np.broadcast_to(c1, (size, size, 3)).copy()
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip((np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
        bg = c1 * (1 - t) + c2 * t
    elif kind == "noise":
        t = value_noise(rng, size, octaves=int(rng.integers(2, 6)), base=int(rng.integers(2, 8)))[..., None]
        bg = c1 * (1 - t) + c2 * t
    elif kind == "stripes":
        freq = rng.uniform(3, 30)
        angle = rng.uniform(0, np.pi)
        phase = np.cos(angle) * xx + np.sin(angle) * yy
        if rng.random() < 0.5:
            t = (np.sin(phase * freq * 2 * np.pi) > 0).astype(np.float32)[..., None]
        else:
            t = ((np.floor(xx * freq) + np.floor(yy * freq)) % 2).astype(np.float32)[..., None]
        t = cv2.GaussianBlur(t, (0, 0), rng.uniform(0.5, 3))[..., None] if t.ndim == 3 else t
        bg = c1 * (1 - t) + c2 * t
    else:  # blobs or mix
        bg = np.broadcast_to(c1, (size, size, 3)).copy()
        if kind == "mix":
            t = value_noise(rng, size, 3, int(rng.integers(2, 5)))[..., None]
            bg = c1 * (1 - t) + c2 * t
        for _ in range(int(rng.integers(3, 12))):
            colour = tuple(float(v) for v in random_colour(rng))
            centre = (int(rng.integers(-20, size + 20)), int(rng.integers(-20, size + 20)))
            axes = (int(rng.integers(8, size // 2)), int(rng.integers(8, size // 2)))
            if rng.random() < 0.5:
                cv2.ellipse(bg, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
            else:
                p = rng.integers(-20, size + 20, (int(rng.integers(3, 6)), 2)).astype(np.int32)
                cv2.fillPoly(bg, [p], colour, cv2.LINE_AA)
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.5, 6))
    # Shading variation and fine grain so the background is never perfectly clean.
    bg = bg * (0.75 + 0.5 * value_noise(rng, size, 2, 2))[..., None]
    bg += rng.normal(0, rng.uniform(0, 0.04), (size, size, 1)).astype(np.float32)
    return np.clip(bg, 0, 1).astype(np.float32), str(kind)
