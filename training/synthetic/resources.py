"""What the generator loads once per process: the model, the render mesh and precomputed fields."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..morphable_model import MorphableModel, load_bfm_from_assets
from .face_regions import face_regions
from .render_mesh import RenderMesh, build_render_mesh


@dataclass(frozen=True)
class Resources:
    model: MorphableModel
    mesh: RenderMesh
    skin_detail: np.ndarray        # (N, 3) albedo relative to the mean skin colour
    regions: dict                  # name -> (N,) float weights (see face_regions)
    fields_coarse: np.ndarray      # (N, K) smooth bumps, radius 25 mm
    fields_fine: np.ndarray        # (N, K) smooth bumps, radius 12 mm


@functools.lru_cache(maxsize=1)
def load_resources() -> Resources:
    """The asset BFM and everything derived from it; cached (forked workers inherit it)."""
    model = load_bfm_from_assets()
    mean = model.mean.astype(np.float64)
    mesh = build_render_mesh(model)
    # Column-major so that picking a few fields is contiguous.
    return Resources(model=model, mesh=mesh, skin_detail=_skin_detail(model, mean),
                     regions=face_regions(mean, model.landmark_ids),
                     fields_coarse=np.asfortranarray(_smooth_fields(mean, 32, 25000.0, seed=1)),
                     fields_fine=np.asfortranarray(_smooth_fields(mean, 48, 12000.0, seed=2)))


def _skin_detail(model: MorphableModel, mean: np.ndarray) -> np.ndarray:
    """The mean texture relative to its typical skin colour, as a luminance ratio (shading of
    features: brows, lips, eyes, creases) plus a damped chroma ratio, so that recolouring to
    any skin tone keeps the features without washing the colour out."""
    texture = model.mean_texture.astype(np.float64)
    front = mean[:, 2] > 40000.0
    luminance = texture @ np.array([0.299, 0.587, 0.114])
    lum_ratio = luminance / np.median(luminance[front])
    chroma = texture / np.maximum(luminance, 1e-3)[:, None]
    chroma_ratio = chroma / np.median(chroma[front], axis=0)
    detail = np.clip(lum_ratio, 0.2, 1.5)[:, None] * (chroma_ratio ** 0.35)
    return detail.astype(np.float32)


def _smooth_fields(coords: np.ndarray, count: int, radius: float, seed: int) -> np.ndarray:
    """(N, count) fixed smooth bumps over the vertices; random combinations of them are
    cheap low-frequency noise (see :func:`training.synthetic.appearance.smooth_noise`)."""
    rng = np.random.default_rng(seed)
    centres = coords[rng.integers(0, len(coords), count)]
    d2 = ((coords[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-d2 / (2 * radius ** 2)).astype(np.float32)
