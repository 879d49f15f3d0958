"""Per-vertex albedo: skin tone, regional variation, brows, stubble, hair, mouth, clothing.

Colours are sRGB in [0, 1]; the mean texture's features are kept (``Resources.skin_detail``)
while the face is recoloured to a random tone.
"""

from __future__ import annotations

import numpy as np

from .render_mesh import TORSO_LEVELS, TORSO_SEGMENTS
from .resources import Resources
from .textures import random_colour


def _skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A random skin colour (sRGB, 0..1) along light-to-dark tones with hue jitter."""
    t = rng.uniform(0.0, 1.0) ** 1.2  # 0 = very light, 1 = very dark
    light = np.array([0.90, 0.74, 0.63])
    mid = np.array([0.80, 0.58, 0.43])
    dark = np.array([0.36, 0.23, 0.16])
    base = light + (mid - light) * min(t * 2, 1) if t < 0.5 else mid + (dark - mid) * (t - 0.5) * 2
    tint = rng.normal(0, [0.03, 0.025, 0.03])
    tint[0] += rng.normal(0, 0.02)  # redness
    return np.clip(base + tint, 0.05, 1.0)


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    palette = np.array([[0.05, 0.04, 0.035], [0.12, 0.08, 0.05], [0.25, 0.16, 0.09],
                        [0.45, 0.30, 0.16], [0.70, 0.55, 0.32], [0.55, 0.25, 0.10],
                        [0.60, 0.58, 0.55], [0.85, 0.84, 0.80]])
    weights = np.array([0.3, 0.25, 0.15, 0.1, 0.07, 0.05, 0.05, 0.03])
    c = palette[rng.choice(len(palette), p=weights)]
    return np.clip(c * rng.uniform(0.8, 1.2) + rng.normal(0, 0.02, 3), 0.01, 1.0)

def smooth_noise(rng: np.random.Generator, fields: np.ndarray, active: int) -> np.ndarray:
    """A random sparse combination of precomputed smooth fields (about unit amplitude)."""
    chosen = rng.choice(fields.shape[1], size=min(active, fields.shape[1]), replace=False)
    weights = rng.standard_normal(len(chosen)).astype(np.float32)
    out = fields[:, chosen[0]] * weights[0]
    for column, weight in zip(chosen[1:], weights[1:]):
        out += fields[:, column] * weight
    return out


def vertex_albedo(rng: np.random.Generator, res: Resources, cap_n: int, mouth_n: int,
                  cap_dirs_y: np.ndarray, hair_probability: float) -> tuple[np.ndarray, dict]:
    """Per-vertex sRGB albedo for the BFM vertices, the mouth cavity and the head cap."""
    reg = res.regions
    n = res.mesh.num_bfm
    f32 = np.float32
    skin = _skin_tone(rng).astype(f32)
    # Keep some of the mean texture's own colour so faces are not flat-tinted.
    detail = res.skin_detail * f32(rng.uniform(0.85, 1.1)) + rng.normal(0, 0.02, 3).astype(f32)
    albedo = detail * skin
    # Regional variation: cheeks redness, blotches, lips, brows, stubble.
    blotch = smooth_noise(rng, res.fields_coarse, 6)
    albedo *= (1.0 + 0.06 * blotch)[:, None]
    red = f32(rng.uniform(0.0, 0.12)) * reg["cheeks"]
    albedo[:, 0] += red * 0.5
    albedo[:, 2] -= red * 0.2
    lips_colour = skin * np.array([1.0, 0.72, 0.72], f32) * f32(rng.uniform(0.75, 1.0))
    if rng.random() < 0.15:  # lipstick
        lips_colour = np.array([rng.uniform(0.45, 0.8), rng.uniform(0.05, 0.25), rng.uniform(0.1, 0.3)], f32)
    lw = reg["lips"][:, None] * f32(rng.uniform(0.4, 0.9))
    albedo = albedo * (1 - lw) + (detail * lips_colour) * lw
    brow_colour = (_hair_colour(rng) * 0.7).astype(f32)
    bw = reg["brows"][:, None] * f32(rng.uniform(0.1, 0.5))
    albedo = albedo * (1 - bw) + brow_colour * bw
    stubble = 0.0
    if rng.random() < 0.15:
        stubble = float(rng.uniform(0.1, 0.35))
        speck = rng.random(n, dtype=f32)
        sw = (reg["beard"] * f32(stubble) * speck)[:, None]
        albedo = albedo * (1 - sw) + np.minimum(brow_colour, skin * 0.45) * sw
    # Eyes keep the texture's own (light sclera, dark iris) values.
    eye_w = reg["eyes"][:, None]
    albedo = albedo * (1 - eye_w) + res.model.mean_texture * f32(rng.uniform(0.75, 1.0)) * eye_w
    albedo *= 1.0 + f32(0.025) * rng.standard_normal((n, 1), dtype=f32)

    # Hair on the scalp: above a random hairline, and behind the ears.
    has_hair = rng.random() < hair_probability
    hair = _hair_colour(rng).astype(f32)
    hairline = rng.uniform(22000.0, 45000.0)     # micrometres above the brows (mesh top ~42k)
    hair_w = np.zeros(n, np.float32)
    if has_hair:
        edge = hairline + 6000.0 * smooth_noise(rng, res.fields_fine, 4)
        hair_w = np.clip((reg["forehead_height"] - edge) * f32(1 / 6000.0), 0, 1)
        # Temples / behind the ears: far back and above the ear.
        side = (np.clip((f32(30000.0) - reg["z"]) * f32(1 / 15000.0), 0, 1)
                * np.clip((reg["y"] - f32(20000.0)) * f32(1 / 10000.0), 0, 1))
        hair_w = np.maximum(hair_w, side)
        strands = 1.0 + f32(0.12) * np.sin(reg["x"] * f32(1 / rng.uniform(1500, 4000)) + f32(rng.uniform(0, 6.3)))
        hair_rgb = hair[None, :] * strands[:, None]
        albedo = albedo * (1 - hair_w[:, None]) + hair_rgb * hair_w[:, None]
    # Mouth cavity: dark red fading to black; optionally teeth near the upper lip.
    cavity = np.zeros((mouth_n, 3), np.float32)
    s = len(res.mesh.slit)
    cavity[:s] = np.array([0.35, 0.10, 0.10]) * skin.mean() * 1.3
    cavity[s:2 * s] = np.array([0.10, 0.03, 0.03])
    cavity[-1] = np.array([0.02, 0.01, 0.01])
    if rng.random() < 0.5:
        upper = res.model.mean[res.mesh.slit, 1] > np.median(res.model.mean[res.mesh.slit, 1])
        cavity[:s][upper] = np.array([0.80, 0.78, 0.70]) * rng.uniform(0.6, 1.0)
    # Head cap: hair on top/back, skin towards the neck.
    neck_w = np.clip((-0.1 - cap_dirs_y) / 0.4, 0, 1)[:, None]
    cap_hair = hair if has_hair else skin * 0.95
    cap = cap_hair[None, :] * (1 - neck_w) + skin[None, :] * neck_w
    cap *= (1.0 + rng.normal(0, 0.05, (cap_n, 1)))
    colours = np.vstack([albedo, cavity, cap]).astype(np.float32)
    info = {"skin_tone": skin.round(3).tolist(), "hair": bool(has_hair),
            "hair_colour": hair.round(3).tolist(), "stubble": float(stubble)}
    return np.clip(colours, 0.0, 1.0), info


def clothing(rng: np.random.Generator, skin: np.ndarray, count: int) -> np.ndarray:
    """Torso ring colours: skin on the neck rings, a collar line, then a garment colour."""
    levels = len(TORSO_LEVELS)
    collar = rng.uniform(2.0, 3.6)  # in ring units: where the garment starts
    garment = random_colour(rng) * rng.uniform(0.4, 1.0)
    out = np.empty((levels, TORSO_SEGMENTS, 3), np.float32)
    angle = np.linspace(0, 2 * np.pi, TORSO_SEGMENTS, endpoint=False)
    stripes = 1.0 + (0.15 * np.sign(np.sin(angle * rng.integers(3, 12))) if rng.random() < 0.2 else 0.0)
    for k in range(levels):
        t = np.clip(k - collar + 0.5, 0, 1)
        out[k] = skin * (1 - t) + garment * stripes[..., None] * t if np.ndim(stripes) else skin * (1 - t) + garment * t
    return out.reshape(count, 3)
