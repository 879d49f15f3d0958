"""Lighting: ambient plus one or two coloured directional lights, Lambert and Blinn-Phong.

Shading is done in linear light (gamma 2 stands in for sRGB) and mapped back with a soft
shoulder instead of hard clipping.
"""

from __future__ import annotations

import numpy as np

from .config import SyntheticConfig


def _srgb_to_linear(c):
    c = np.clip(c, 0, 1)
    return c * c  # gamma 2: close enough to sRGB here and much cheaper than a power


def _linear_to_srgb(c):
    return np.sqrt(np.clip(c, 0, 1))


def shade(rng: np.random.Generator, albedo_srgb: np.ndarray, normals: np.ndarray,
          shininess_weight: np.ndarray, config: SyntheticConfig) -> tuple[np.ndarray, dict]:
    """Linear-light Lambert + ambient (+ specular) per vertex; returns sRGB colours."""
    albedo = _srgb_to_linear(np.minimum(albedo_srgb, 0.95))
    # Total light on a surface facing the key light is about 1 (+- exposure), split between
    # a coloured ambient term and one or two directional lights.
    ambient_share = rng.uniform(0.2, 0.6)
    ambient = ambient_share * (1.0 + rng.normal(0, 0.05, 3))
    lights = []
    count = 2 if rng.random() < config.two_lights_probability else 1
    total = np.zeros_like(albedo)
    spec_total = np.zeros((len(albedo), 1), np.float32)
    for i in range(count):
        # Mostly frontal-ish, sometimes strongly from the side or below.
        theta = rng.uniform(0, 2 * np.pi)
        tilt = np.radians(rng.uniform(0, 70) if rng.random() < 0.8 else rng.uniform(60, 100))
        direction = np.array([np.sin(tilt) * np.cos(theta), np.sin(tilt) * np.sin(theta), np.cos(tilt)])
        intensity = (1.0 - ambient_share) * (1.0 if i == 0 else rng.uniform(0.2, 0.6))
        colour = 1.0 + rng.normal(0, 0.06, 3)
        lambert = np.clip(normals @ direction.astype(np.float32), 0, None)[:, None]
        total += lambert * (intensity * colour).astype(np.float32)
        if rng.random() < config.specular_probability:
            half = direction + np.array([0.0, 0.0, 1.0])
            half /= np.linalg.norm(half)
            shininess = rng.uniform(8, 40)
            strength = rng.uniform(0.02, 0.15) * intensity
            spec = np.clip(normals @ half.astype(np.float32), 0, None) ** shininess
            spec_total += (strength * spec)[:, None] * shininess_weight[:, None]
        lights.append(direction.round(3).tolist())
    linear = albedo * (ambient.astype(np.float32) + total) + spec_total
    exposure = rng.uniform(0.65, 1.1)
    linear = linear * np.float32(exposure)
    # Soft shoulder instead of hard clipping, so bright skin keeps its colour.
    over = np.maximum(linear - 0.6, 0)
    linear = np.minimum(linear, 0.6) + over / (1 + over / 0.4)
    return _linear_to_srgb(linear), {"lights": lights, "ambient": float(ambient_share),
                                     "exposure": float(exposure)}
