"""Synthetic training faces: a random BFM face, posed, lit and rendered into PRNet's crop.

``generate_sample(seed, config)`` is deterministic in ``seed`` and returns a
:class:`Sample` (see :mod:`training.groundtruth`): the 256x256 RGB crop the network sees,
its ground-truth position map and 68 landmarks in the same crop frame, and ``params``.

What is randomised (after the lessons of ``notes/synthetic-pilot.md``: wide pitch, open
mouths, glasses, hair and other occluders, varied backgrounds):

- identity (40 shape modes) and expression (10 modes) around the spread of 300W-LP fits,
  with extra open-mouth samples; the mouth slit is closed by a dark cavity;
- pose: yaw, pitch, roll uniform in the configured ranges (the engine's convention,
  ``engine.pose.euler_to_rotation``);
- appearance: the BFM mean texture (``uv_face.png``) recoloured to a random skin tone (its
  luminance detail kept) with regional variation (cheeks, lips, brows, stubble), noise;
  hair on the scalp with random hairlines; the BFM mesh (a mask: no back of the head, the
  neck cut off) is completed for rendering only by a head cap swept from its border to the
  back of the head and a neck-and-shoulders tube in skin and clothing colours;
- lighting: ambient + one or two directional Lambertian lights in linear RGB, coloured,
  with optional Blinn-Phong specular;
- background: value noise, gradients, blobs, stripes/checks, mixtures;
- occluders: sunglasses and glasses (visible eyes only), fringes/locks of hair and long
  hair behind the head, hand-like shapes, face masks, rectangles/ellipses/polygons/bars;
- camera: blur, noise, low resolution, JPEG, colour jitter, greyscale.

Rendering: per-vertex Gouraud colours through :func:`engine.render.rasterize` with back-face
culling, silhouettes softened by half a pixel (``supersample=2`` renders at twice the size
and averages instead). Parallel use: :class:`SyntheticPool` / :func:`generate_batch`, or call
``generate_sample`` from DataLoader workers (it loads its resources once per process).

The face is placed in the crop exactly as PRNet's landmark-box crop
(:func:`engine.crop.crop_matrix` of :func:`engine.crop.landmark_box` of the 68 landmarks),
unless ``box_shift`` / ``box_scale_jitter`` are set. The rasteriser is
:mod:`engine.render`; the ground truth is :func:`training.groundtruth.crop_groundtruth`.
Face-model data derived from the Basel Face Model is for non-commercial research only.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from engine.crop import CROP_SIZE, crop_matrix, image_to_crop, landmark_box
from engine.landmarks import (BROWS, CHIN, EYES, INNER_LIPS, JAW, LEFT_BROW, LEFT_EYE,
                              LEFT_EYE_INNER, LEFT_EYE_OUTER, LOWER_LIP_BOTTOM, MOUTH_LEFT,
                              MOUTH_RIGHT, NOSE_BASE, NOSE_BOTTOM, NOSE_BRIDGE, NOSE_TIP, NOSE_TOP,
                              OUTER_LIPS, RIGHT_BROW, RIGHT_EYE, RIGHT_EYE_INNER, RIGHT_EYE_OUTER)
from engine.mesh_edges import nearest_border_loop, outer_border_loop
from engine.pose import euler_to_rotation
from engine.render import rasterize

from .groundtruth import Sample, crop_groundtruth, uv_gather_for
from .morphable_model import MorphableModel, load_bfm_from_assets

__all__ = ["SyntheticConfig", "Sample", "SyntheticPool", "generate_sample", "generate_batch",
           "contact_sheet"]


@dataclass
class SyntheticConfig:
    """Knobs of the generator. Angles in degrees, probabilities in [0, 1]."""

    image_size: int = CROP_SIZE
    yaw_range: tuple[float, float] = (-90.0, 90.0)
    pitch_range: tuple[float, float] = (-30.0, 30.0)
    roll_range: tuple[float, float] = (-30.0, 30.0)
    # Crop placement: 0 = exactly PRNet's landmark-box crop. Otherwise the box centre moves by
    # up to box_shift x its size and its size scales by 1 +- box_scale_jitter.
    box_shift: float = 0.0
    box_scale_jitter: float = 0.0
    # Identity and expression, in units of the 300W-LP fit spread.
    shape_scale: float = 1.0
    expression_scale: float = 1.0
    open_mouth_probability: float = 0.35
    neutral_probability: float = 0.1
    # Appearance.
    hair_probability: float = 0.85
    specular_probability: float = 0.6
    two_lights_probability: float = 0.3
    # Occlusion.
    occlusion_probability: float = 0.6
    max_occluders: int = 3
    glasses_probability: float = 0.25
    hand_probability: float = 0.12
    face_mask_probability: float = 0.05
    long_hair_probability: float = 0.35
    # Camera and image degradations.
    supersample: int = 1
    blur_probability: float = 0.3
    noise_probability: float = 0.5
    low_res_probability: float = 0.15
    jpeg_probability: float = 0.5
    grayscale_probability: float = 0.05

    def __post_init__(self) -> None:
        for name in ("yaw_range", "pitch_range", "roll_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high), got {(low, high)}")
            setattr(self, name, (float(low), float(high)))
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")


# ----------------------------------------------------------------------------- resources


@dataclass
class _Resources:
    model: MorphableModel
    triangles: np.ndarray          # render triangles over all render vertices
    num_bfm: int
    slit: np.ndarray               # (S,) ordered mouth-slit loop vertex ids
    border: np.ndarray             # (B,) ordered outer border loop vertex ids
    cap_rings: int
    incidence: object              # scipy CSR (V_render, M_render) for vertex normals
    skin_detail: np.ndarray        # (N, 3) albedo relative to the mean skin colour
    regions: dict = field(default_factory=dict)   # name -> (N,) float weights
    fields_coarse: np.ndarray = None  # (N, K) smooth bumps, radius 25 mm
    fields_fine: np.ndarray = None    # (N, K) smooth bumps, radius 12 mm
    torso: dict = field(default_factory=dict)


_CAP_CENTRE = np.array([0.0, 15000.0, 12000.0])   # BFM micrometres, y up, z front
_CAP_RADII = np.array([82000.0, 105000.0, 100000.0])
_CAP_RINGS = 6
_CAP_STEP = 4
# Neck/shoulder rings: (height above the neck's bottom edge, x scale, z scale, z offset),
# heights in micrometres, scales relative to the neck's half width / half depth.
_TORSO_LEVELS = np.array([
    (25000, 0.95, 0.95, 0), (0, 1.0, 1.0, 0), (-25000, 1.05, 1.02, -3000),
    (-45000, 1.6, 1.15, -6000), (-65000, 2.5, 1.45, -10000), (-95000, 3.0, 1.6, -12000),
    (-170000, 3.15, 1.6, -12000)], np.float64)
_TORSO_SEGMENTS = 40
_MOUTH_RINGS = 2


@functools.lru_cache(maxsize=1)
def _resources() -> _Resources:
    import scipy.sparse as sp

    model = load_bfm_from_assets()
    n = model.num_vertices
    tris = model.triangles
    mean = model.mean.astype(np.float64)
    lm = model.landmark_ids

    slit = nearest_border_loop(tris, mean, mean[lm[INNER_LIPS]].mean(axis=0))
    border = outer_border_loop(tris, n)

    # Mouth cavity: rings from the slit inwards + a centre vertex, wound towards the camera.
    mouth_tris = []
    s = len(slit)
    ring0 = slit
    next_id = n
    rings = [ring0]
    for _ in range(_MOUTH_RINGS):
        rings.append(np.arange(next_id, next_id + s))
        next_id += s
    centre = next_id
    next_id += 1
    for a, b in zip(rings[:-1], rings[1:]):
        for k in range(s):
            k1 = (k + 1) % s
            mouth_tris += [(a[k], a[k1], b[k]), (a[k1], b[k1], b[k])]
    last = rings[-1]
    for k in range(s):
        mouth_tris.append((last[k], last[(k + 1) % s], centre))
    # Head cap: rings from the outer border loop towards the back of the head. The first
    # ring keeps every border vertex; the others use every _CAP_STEP-th (fewer, larger
    # triangles far from the face, where detail does not matter).
    cap_tris = []
    b = len(border)
    spokes = np.arange(0, b, _CAP_STEP)
    s_count = len(spokes)
    first = np.arange(next_id, next_id + s_count)
    next_id += s_count
    for k in range(s_count):
        start = spokes[k]
        stop = spokes[(k + 1) % s_count] if k + 1 < s_count else b
        for i in range(start, stop):
            cap_tris.append((border[i], border[(i + 1) % b], first[k]))
        cap_tris.append((border[stop % b], first[(k + 1) % s_count], first[k]))
    previous = first
    for _ in range(_CAP_RINGS - 1):
        ring = np.arange(next_id, next_id + s_count)
        next_id += s_count
        for k in range(s_count):
            k1 = (k + 1) % s_count
            cap_tris += [(previous[k], previous[k1], ring[k]), (previous[k1], ring[k1], ring[k])]
        previous = ring
    pole = next_id
    next_id += 1
    for k in range(s_count):
        cap_tris.append((previous[k], previous[(k + 1) % s_count], pole))
    mouth_tris = np.array(mouth_tris, np.int64)
    cap_tris = np.array(cap_tris, np.int64)
    # Orient the added triangles like the BFM's front faces (outwards; cavity towards the
    # mouth opening) so that back-face culling is valid for the whole render mesh.
    probe = np.vstack([mean, _mouth_cavity(mean, slit, 15000.0), _head_cap(mean, border, 1.0)]) * [1, -1, 1]
    mouth_tris = _orient(mouth_tris, probe, lambda centres: np.tile([0.0, 0.0, 1.0], (len(centres), 1)))
    cap_tris = _orient(cap_tris, probe, lambda centres: centres - _CAP_CENTRE * [1, -1, 1])
    # Neck and shoulders: rings below the neck (the BFM mesh stops there).
    neck = border[mean[border, 1] < np.percentile(mean[border, 1], 25)]
    torso_first = next_id
    torso_tris = []
    rings = [np.arange(next_id + k * _TORSO_SEGMENTS, next_id + (k + 1) * _TORSO_SEGMENTS)
             for k in range(len(_TORSO_LEVELS))]
    next_id += len(_TORSO_LEVELS) * _TORSO_SEGMENTS
    for a, c in zip(rings[:-1], rings[1:]):
        for k in range(_TORSO_SEGMENTS):
            k1 = (k + 1) % _TORSO_SEGMENTS
            torso_tris += [(a[k], a[k1], c[k]), (a[k1], c[k1], c[k])]
    torso_tris = np.array(torso_tris, np.int64)
    torso = {"neck": neck, "first": torso_first}
    probe = np.vstack([probe, _torso(mean, neck) * [1, -1, 1]])
    axis_centre = mean[neck].mean(axis=0) * [1, -1, 1]
    torso_tris = _orient(torso_tris, probe,
                         lambda centres: (centres - axis_centre) * [1.0, 0.0, 1.0])
    all_tris = np.vstack([tris, mouth_tris, cap_tris, torso_tris])
    v_total = next_id
    m = len(all_tris)
    incidence = sp.csr_matrix((np.ones(3 * m, np.float32),
                               (all_tris.ravel(), np.repeat(np.arange(m), 3))), shape=(v_total, m))

    # Albedo detail: the mean texture relative to its typical skin colour, as a luminance
    # ratio (shading of features: brows, lips, eyes, creases) plus a damped chroma ratio, so
    # that recolouring to any skin tone keeps the features without washing the colour out.
    texture = model.mean_texture.astype(np.float64)
    front = mean[:, 2] > 40000.0
    luminance = texture @ np.array([0.299, 0.587, 0.114])
    lum_ratio = luminance / np.median(luminance[front])
    chroma = texture / np.maximum(luminance, 1e-3)[:, None]
    chroma_ratio = chroma / np.median(chroma[front], axis=0)
    detail = np.clip(lum_ratio, 0.2, 1.5)[:, None] * (chroma_ratio ** 0.35)
    regions = _regions(mean, lm)
    res = _Resources(model=model, triangles=all_tris, num_bfm=n, slit=slit, border=border,
                     cap_rings=_CAP_RINGS, incidence=incidence,
                     skin_detail=detail.astype(np.float32), regions=regions)
    # Column-major so that picking a few fields is contiguous.
    res.fields_coarse = np.asfortranarray(_smooth_fields(mean, 32, 25000.0, seed=1))
    res.fields_fine = np.asfortranarray(_smooth_fields(mean, 48, 12000.0, seed=2))
    res.torso = torso
    return res


def _orient(tris: np.ndarray, verts: np.ndarray, outward) -> np.ndarray:
    """Flip triangles whose normal (image frame, (b - a) x (c - a)) points against ``outward``."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    normal = np.cross(b - a, c - a)
    centres = (a + b + c) / 3.0
    flip = (normal * outward(centres)).sum(axis=1) < 0
    out = tris.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def _near_landmarks(verts: np.ndarray, lm: np.ndarray, which: Sequence[int], radius: float) -> np.ndarray:
    """Soft weight in [0, 1]: 1 at the given landmarks, 0 beyond ``radius`` (micrometres)."""
    d = np.full(len(verts), np.inf)
    for i in which:
        d = np.minimum(d, np.linalg.norm(verts - verts[lm[i]], axis=1))
    return np.clip(1.0 - d / radius, 0.0, 1.0) ** 0.7


def _inside_polygon(points_xy: np.ndarray, polygon_xy: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points."""
    x, y = points_xy[:, 0:1], points_xy[:, 1:2]
    px, py = polygon_xy[:, 0], polygon_xy[:, 1]
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    crosses = ((py > y) != (qy > y)) & (x < (qx - px) * (y - py) / np.where(qy == py, 1e-12, qy - py) + px)
    return crosses.sum(axis=1) % 2 == 1


def _regions(mean: np.ndarray, lm: np.ndarray) -> dict:
    """Per-vertex region weights on the mean face (front-facing part, xy polygons)."""
    front = mean[:, 2] > 40000.0
    xy = mean[:, :2]
    land = mean[lm]

    def polygon(ids, grow=1.0):
        pts = land[ids, :2]
        c = pts.mean(axis=0)
        return _inside_polygon(xy, c + (pts - c) * grow) & front

    def soft(mask, blur):
        # Feather a hard mask by distance in model units (nearest masked vertex).
        from scipy.spatial import cKDTree

        if not mask.any():
            return mask.astype(np.float32)
        d, _ = cKDTree(mean[mask]).query(mean, distance_upper_bound=blur)
        w = np.where(np.isfinite(d), 1.0 - d / blur, 0.0)
        return np.clip(w, 0, 1).astype(np.float32)

    eyes = polygon(list(RIGHT_EYE), 1.15) | polygon(list(LEFT_EYE), 1.15)
    lips = polygon(list(OUTER_LIPS), 1.05) & ~polygon(list(INNER_LIPS), 0.9)
    brows = np.zeros(len(mean), bool)
    for ids in (RIGHT_BROW, LEFT_BROW):
        pts = land[ids]
        for a, b in zip(pts[:-1], pts[1:]):
            ab = b - a
            t = np.clip(((mean - a) @ ab) / (ab @ ab), 0, 1)
            dist = np.linalg.norm(mean - (a + t[:, None] * ab), axis=1)
            brows |= (dist < 4500.0) & front
    # the jaw below the ears, closed under the nose (nostril, bottom, nostril)
    jaw_poly = np.r_[land[JAW[2:-2], :2], land[NOSE_BASE[::-2], :2]]
    beard = _inside_polygon(xy, jaw_poly) & (mean[:, 2] > 20000.0) & ~polygon(list(OUTER_LIPS), 1.1)
    cheeks = _near_landmarks(mean, lm, [JAW[2], JAW[3], JAW[13], JAW[14]], 30000.0) * front
    nose = _near_landmarks(mean, lm, [NOSE_TIP, NOSE_BOTTOM], 20000.0)
    forehead_height = mean[:, 1] - land[BROWS, 1].max()
    return {
        "eyes": soft(eyes, 1500.0),
        "lips": soft(lips, 2000.0),
        "brows": soft(brows, 2500.0),
        "beard": soft(beard, 6000.0),
        "cheeks": cheeks.astype(np.float32),
        "nose": nose.astype(np.float32),
        "forehead_height": forehead_height.astype(np.float32),  # micrometres above the brows
        "y": mean[:, 1].astype(np.float32),
        "z": mean[:, 2].astype(np.float32),
        "x": mean[:, 0].astype(np.float32),
    }


# ----------------------------------------------------------------------------- geometry


def _sample_coefficients(rng: np.random.Generator, model: MorphableModel, config: SyntheticConfig
                         ) -> tuple[np.ndarray, np.ndarray, bool]:
    shape_std = model.shape_std if model.shape_std is not None else np.ones(model.num_shape)
    shape_mean = model.shape_mean if model.shape_mean is not None else np.zeros(model.num_shape)
    exp_std = model.exp_std if model.exp_std is not None else np.ones(model.num_expression)
    exp_mean = model.exp_mean if model.exp_mean is not None else np.zeros(model.num_expression)
    shape = shape_mean + np.clip(rng.standard_normal(model.num_shape), -3, 3) * shape_std * config.shape_scale
    if rng.random() < config.neutral_probability:
        exp = exp_mean * rng.uniform(0.0, 1.0)
        open_mouth = False
    else:
        exp = exp_mean + np.clip(rng.standard_normal(model.num_expression), -2.5, 2.5) * exp_std * config.expression_scale
        open_mouth = rng.random() < config.open_mouth_probability
        if open_mouth:
            # Modes 0 and 1 open the jaw when negative (checked by rendering them).
            exp[0] = exp_mean[0] - rng.uniform(0.8, 3.2) * exp_std[0]
            exp[1] = min(exp[1], exp_mean[1] + rng.uniform(-1.0, 0.5) * exp_std[1])
    return shape, exp, open_mouth


def _mouth_cavity(verts: np.ndarray, slit: np.ndarray, depth: float) -> np.ndarray:
    """Vertices of the mouth cavity rings and centre for the current slit shape."""
    loop = verts[slit]
    centre = loop.mean(axis=0)
    out = []
    for k in range(1, _MOUTH_RINGS + 1):
        t = k / (_MOUTH_RINGS + 1)
        ring = loop + (centre - loop) * (0.35 * t) + np.array([0.0, 0.0, -depth * t])
        out.append(ring)
    out.append((centre + np.array([0.0, 0.0, -depth]))[None])
    return np.vstack(out)


def _head_cap(verts: np.ndarray, border: np.ndarray, scale: float) -> np.ndarray:
    """Rings sweeping from the BFM outer border over an ellipsoid to the back of the head
    (one spoke per _CAP_STEP border vertices), then the pole."""
    start = verts[border[::_CAP_STEP]]
    centre = _CAP_CENTRE
    radii = _CAP_RADII * scale
    rel = (start - centre) / radii
    r0 = np.sqrt((rel * rel).sum(axis=1))
    d0 = rel / r0[:, None]
    pole = np.array([0.0, 0.05, -1.0])
    pole /= np.linalg.norm(pole)
    omega = np.arccos(np.clip(d0 @ pole, -1.0, 1.0))[:, None]
    sin = np.maximum(np.sin(omega), 1e-6)
    rings = []
    for k in range(1, _CAP_RINGS + 1):
        t = k / (_CAP_RINGS + 1)
        direction = (np.sin((1 - t) * omega) * d0 + np.sin(t * omega) * pole) / sin
        direction /= np.sqrt((direction * direction).sum(axis=1))[:, None]
        radius = (r0 * (1 - t) + 1.0 * t)[:, None]
        rings.append(centre + direction * radius * radii)
    rings.append((centre + pole * radii)[None])
    return np.vstack(rings)


def _torso(verts: np.ndarray, neck: np.ndarray) -> np.ndarray:
    """Rings of an elliptic neck-and-shoulders tube under the BFM neck."""
    points = verts[neck]
    centre = points.mean(axis=0)
    half_x = max(np.ptp(points[:, 0]) / 2, 1.0)
    half_z = max(np.ptp(points[:, 2]) / 2, 1.0)
    bottom = points[:, 1].min()
    angle = np.linspace(0, 2 * np.pi, _TORSO_SEGMENTS, endpoint=False)
    rings = []
    for dy, sx, sz, dz in _TORSO_LEVELS:
        rings.append(np.stack([centre[0] + np.cos(angle) * half_x * sx,
                               np.full_like(angle, bottom + dy),
                               centre[2] + dz + np.sin(angle) * half_z * sz], axis=1))
    return np.vstack(rings)


def _vertex_normals(verts: np.ndarray, tris: np.ndarray, incidence) -> np.ndarray:
    """Area-weighted vertex normals (float32), in the frame of ``verts``."""
    v = np.asarray(verts, np.float32)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    i, j, k = tris[:, 0], tris[:, 1], tris[:, 2]
    ux, uy, uz = x[j] - x[i], y[j] - y[i], z[j] - z[i]
    wx, wy, wz = x[k] - x[i], y[k] - y[i], z[k] - z[i]
    face = np.empty((len(tris), 3), np.float32)
    face[:, 0] = uy * wz - uz * wy
    face[:, 1] = uz * wx - ux * wz
    face[:, 2] = ux * wy - uy * wx
    normals = incidence @ face
    length = np.sqrt(normals[:, 0] ** 2 + normals[:, 1] ** 2 + normals[:, 2] ** 2)
    normals /= np.maximum(length, 1e-12)[:, None]
    return normals


# ----------------------------------------------------------------------------- appearance


def _srgb_to_linear(c):
    c = np.clip(c, 0, 1)
    return c * c  # gamma 2: close enough to sRGB here and much cheaper than a power


def _linear_to_srgb(c):
    return np.sqrt(np.clip(c, 0, 1))


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


def _smooth_fields(coords: np.ndarray, count: int, radius: float, seed: int) -> np.ndarray:
    """(N, count) fixed smooth bumps over the vertices; random combinations of them are
    cheap low-frequency noise (see :func:`_smooth_noise`)."""
    rng = np.random.default_rng(seed)
    centres = coords[rng.integers(0, len(coords), count)]
    d2 = ((coords[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-d2 / (2 * radius ** 2)).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, fields: np.ndarray, active: int) -> np.ndarray:
    """A random sparse combination of precomputed smooth fields (about unit amplitude)."""
    chosen = rng.choice(fields.shape[1], size=min(active, fields.shape[1]), replace=False)
    weights = rng.standard_normal(len(chosen)).astype(np.float32)
    out = fields[:, chosen[0]] * weights[0]
    for column, weight in zip(chosen[1:], weights[1:]):
        out += fields[:, column] * weight
    return out


def _albedo(rng: np.random.Generator, res: _Resources, cap_n: int, mouth_n: int,
            cap_dirs_y: np.ndarray, hair_probability: float) -> tuple[np.ndarray, dict]:
    """Per-vertex sRGB albedo for the BFM vertices, the mouth cavity and the head cap."""
    reg = res.regions
    n = res.num_bfm
    f32 = np.float32
    skin = _skin_tone(rng).astype(f32)
    # Keep some of the mean texture's own colour so faces are not flat-tinted.
    detail = res.skin_detail * f32(rng.uniform(0.85, 1.1)) + rng.normal(0, 0.02, 3).astype(f32)
    albedo = detail * skin
    # Regional variation: cheeks redness, blotches, lips, brows, stubble.
    blotch = _smooth_noise(rng, res.fields_coarse, 6)
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
        edge = hairline + 6000.0 * _smooth_noise(rng, res.fields_fine, 4)
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
    s = len(res.slit)
    cavity[:s] = np.array([0.35, 0.10, 0.10]) * skin.mean() * 1.3
    cavity[s:2 * s] = np.array([0.10, 0.03, 0.03])
    cavity[-1] = np.array([0.02, 0.01, 0.01])
    if rng.random() < 0.5:
        upper = res.model.mean[res.slit, 1] > np.median(res.model.mean[res.slit, 1])
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


def _clothing(rng: np.random.Generator, skin: np.ndarray, count: int) -> np.ndarray:
    """Torso ring colours: skin on the neck rings, a collar line, then a garment colour."""
    levels = len(_TORSO_LEVELS)
    collar = rng.uniform(2.0, 3.6)  # in ring units: where the garment starts
    garment = _random_colour(rng) * rng.uniform(0.4, 1.0)
    out = np.empty((levels, _TORSO_SEGMENTS, 3), np.float32)
    angle = np.linspace(0, 2 * np.pi, _TORSO_SEGMENTS, endpoint=False)
    stripes = 1.0 + (0.15 * np.sign(np.sin(angle * rng.integers(3, 12))) if rng.random() < 0.2 else 0.0)
    for k in range(levels):
        t = np.clip(k - collar + 0.5, 0, 1)
        out[k] = skin * (1 - t) + garment * stripes[..., None] * t if np.ndim(stripes) else skin * (1 - t) + garment * t
    return out.reshape(count, 3)


def _shade(rng: np.random.Generator, albedo_srgb: np.ndarray, normals: np.ndarray,
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


# ----------------------------------------------------------------------------- background


def _value_noise(rng: np.random.Generator, size: int, octaves: int = 4, base: int = 4) -> np.ndarray:
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


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 255), rng.uniform(20, 255)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    kind = rng.choice(["noise", "gradient", "blobs", "stripes", "mix", "flat"],
                      p=[0.25, 0.15, 0.2, 0.1, 0.25, 0.05])
    c1, c2 = _random_colour(rng), _random_colour(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "flat":
        bg = np.broadcast_to(c1, (size, size, 3)).copy()
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.clip((np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
        bg = c1 * (1 - t) + c2 * t
    elif kind == "noise":
        t = _value_noise(rng, size, octaves=int(rng.integers(2, 6)), base=int(rng.integers(2, 8)))[..., None]
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
            t = _value_noise(rng, size, 3, int(rng.integers(2, 5)))[..., None]
            bg = c1 * (1 - t) + c2 * t
        for _ in range(int(rng.integers(3, 12))):
            colour = tuple(float(v) for v in _random_colour(rng))
            centre = (int(rng.integers(-20, size + 20)), int(rng.integers(-20, size + 20)))
            axes = (int(rng.integers(8, size // 2)), int(rng.integers(8, size // 2)))
            if rng.random() < 0.5:
                cv2.ellipse(bg, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
            else:
                p = rng.integers(-20, size + 20, (int(rng.integers(3, 6)), 2)).astype(np.int32)
                cv2.fillPoly(bg, [p], colour, cv2.LINE_AA)
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.5, 6))
    # Shading variation and fine grain so the background is never perfectly clean.
    bg = bg * (0.75 + 0.5 * _value_noise(rng, size, 2, 2))[..., None]
    bg += rng.normal(0, rng.uniform(0, 0.04), (size, size, 1)).astype(np.float32)
    return np.clip(bg, 0, 1).astype(np.float32), str(kind)


# ----------------------------------------------------------------------------- occluders


def _draw_glasses(rng, image, lm2d, visible, size):
    """Glasses or sunglasses drawn over the eyes (only on the visible side(s))."""
    overlay = image.copy()
    alpha = np.zeros(image.shape[:2], np.float32)
    sun = rng.random() < 0.4
    frame_colour = tuple(float(v) for v in (_random_colour(rng) * rng.uniform(0.1, 0.6)))
    lens_colour = tuple(float(v) for v in np.array([0.05, 0.05, 0.07]) + rng.uniform(0, 0.15, 3))
    thickness = max(1, int(round(size / 256 * rng.uniform(1.5, 4))))
    eye_ids = [list(RIGHT_EYE), list(LEFT_EYE)]
    centres = [lm2d[ids].mean(axis=0) for ids in eye_ids]
    eye_dist = np.linalg.norm(centres[1] - centres[0])
    width = max(np.ptp(lm2d[EYES, 0]) / 2.0, eye_dist * 0.5, 4.0)
    angle = float(np.degrees(np.arctan2(centres[1][1] - centres[0][1], centres[1][0] - centres[0][0])))
    shape_rect = rng.random() < 0.5
    for k, (c, ids) in enumerate(zip(centres, eye_ids)):
        if not visible[k]:
            continue
        span = max(np.ptp(lm2d[ids, 0]), 3.0)
        ax = (int(max(span * rng.uniform(0.7, 0.95), 3)), int(max(span * rng.uniform(0.5, 0.75), 3)))
        centre = (int(c[0]), int(c[1] + ax[1] * 0.15))
        mask = np.zeros(image.shape[:2], np.uint8)
        if shape_rect:
            box = cv2.boxPoints((centre, (2 * ax[0], 2 * ax[1]), angle)).astype(np.int32)
            cv2.fillPoly(mask, [box], 255, cv2.LINE_AA)
        else:
            cv2.ellipse(mask, centre, ax, angle, 0, 360, 255, -1, cv2.LINE_AA)
        m = mask.astype(np.float32) / 255.0
        lens_alpha = rng.uniform(0.75, 0.95) if sun else rng.uniform(0.05, 0.2)
        colour = np.array(lens_colour if sun else (0.85, 0.9, 0.95), np.float32)
        overlay = overlay * (1 - m[..., None] * lens_alpha) + colour * m[..., None] * lens_alpha
        # Frame outline.
        if shape_rect:
            cv2.polylines(overlay, [box], True, frame_colour, thickness, cv2.LINE_AA)
        else:
            cv2.ellipse(overlay, centre, ax, angle, 0, 360, frame_colour, thickness, cv2.LINE_AA)
        alpha = np.maximum(alpha, m)
    if visible[0] and visible[1]:
        a = lm2d[RIGHT_EYE_INNER].astype(int)
        b = lm2d[LEFT_EYE_INNER].astype(int)
        cv2.line(overlay, tuple(int(v) for v in a), tuple(int(v) for v in b), frame_colour, thickness, cv2.LINE_AA)
    # Temple arms: from beyond each outer eye corner (away from ``inward``) to the ear. The
    # left arm's ``inward`` is a mouth corner where the inner eye corner was meant; it stays,
    # because changing it would change every sample with glasses.
    arms = ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER, JAW[0]), (LEFT_EYE_OUTER, MOUTH_RIGHT, JAW[-1]))
    for k, (outer, inward, ear) in enumerate(arms):
        if visible[k]:
            p = lm2d[outer] + (lm2d[outer] - lm2d[inward]) * 0.35
            q = lm2d[ear] + (lm2d[ear] - lm2d[NOSE_TIP]) * 0.05
            cv2.line(overlay, tuple(int(v) for v in p), tuple(int(v) for v in q), frame_colour,
                     thickness, cv2.LINE_AA)
    return overlay, "sunglasses" if sun else "glasses"


def _draw_hand(rng, image, lm2d, skin, size):
    """A hand-like shape (palm + fingers) in skin tones, shaded, with a soft contact shadow."""
    target = lm2d[rng.choice([CHIN, LOWER_LIP_BOTTOM, JAW[3], JAW[13], NOSE_TIP, MOUTH_RIGHT, MOUTH_LEFT])] + rng.normal(0, size * 0.05, 2)
    palm = np.array([target[0], target[1] + size * rng.uniform(0.05, 0.15)])
    scale = size * rng.uniform(0.08, 0.14)
    angle = rng.uniform(-60, 60)
    colour = np.clip(skin * rng.uniform(0.75, 1.1) + rng.normal(0, 0.03, 3), 0, 1)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(mask, (int(palm[0]), int(palm[1])), (int(scale), int(scale * 1.15)), angle, 0, 360,
                1.0, -1, cv2.LINE_AA)
    direction = np.array([np.sin(np.radians(angle)), -np.cos(np.radians(angle))])
    side = np.array([direction[1], -direction[0]])
    spread = rng.uniform(0.0, 0.25)
    curl = rng.uniform(0.4, 1.0)
    for f in range(4):
        offset = (f - 1.5)
        base = palm + direction * scale * 0.8 + side * scale * offset * 0.45
        finger_dir = direction + side * offset * spread
        finger_dir /= np.linalg.norm(finger_dir)
        length = scale * rng.uniform(0.9, 1.3) * (1.0 - 0.15 * abs(offset)) * curl
        tip = base + finger_dir * length
        width = max(2, int(scale * rng.uniform(0.3, 0.4)))
        cv2.line(mask, tuple(int(v) for v in base), tuple(int(v) for v in tip), 1.0, width, cv2.LINE_AA)
        cv2.circle(mask, tuple(int(v) for v in tip), width // 2, 1.0, -1, cv2.LINE_AA)
    thumb = palm + side * scale * rng.choice([-1.0, 1.0]) * 0.9 + direction * scale * 0.2
    cv2.line(mask, (int(palm[0]), int(palm[1])), (int(thumb[0]), int(thumb[1])), 1.0,
             max(2, int(scale * 0.4)), cv2.LINE_AA)
    # Shading: a light gradient across the hand plus texture; a soft shadow around it.
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])
    ramp = ((xx - palm[0]) * light[0] + (yy - palm[1]) * light[1]) / (scale * 3)
    shade = np.clip(0.9 + ramp, 0.55, 1.2) * (0.93 + 0.14 * _value_noise(rng, image.shape[0], 3, 16))
    shadow = cv2.GaussianBlur(mask, (0, 0), scale * 0.25)
    image = image * (1 - 0.35 * shadow[..., None])
    m = cv2.GaussianBlur(mask, (0, 0), 0.7)[..., None]
    return image * (1 - m) + colour * shade[..., None] * m, "hand"


def _draw_face_mask(rng, image, lm2d):
    pts = np.r_[lm2d[JAW[1:-1]], lm2d[[NOSE_BRIDGE[1]]]]
    hull = cv2.convexHull(pts.astype(np.float32)).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.fillPoly(mask, [hull], 1.0, cv2.LINE_AA)
    colour = np.array([0.75, 0.85, 0.95]) if rng.random() < 0.6 else _random_colour(rng)
    shade = 0.8 + 0.25 * _value_noise(rng, image.shape[0], 2, 2)[..., None]
    m = mask[..., None]
    return image * (1 - m) + colour * shade * m, "face_mask"


def _draw_hair_strands(rng, image, lm2d, hair, size, head_mask=None):
    """A fringe or a lock of hair: many thin, roughly parallel strands falling from above
    the brows, semi-transparent at their tips."""
    brows = lm2d[BROWS]
    width = np.ptp(lm2d[:, 0]) + 1.0
    left, right = brows[:, 0].min(), brows[:, 0].max()
    if rng.random() < 0.5:   # a full fringe
        span = (left - 0.15 * width, right + 0.15 * width)
    else:                    # one lock
        centre = rng.uniform(left, right)
        span = (centre - rng.uniform(0.08, 0.2) * width, centre + rng.uniform(0.08, 0.2) * width)
    top = brows[:, 1].min() - rng.uniform(0.25, 0.5) * width
    reach = brows[:, 1].max() + rng.uniform(-0.1, 0.25) * width
    sweep = rng.normal(0, 0.25)   # sideways drift per unit length
    overlay = image.copy()
    layer = np.zeros(image.shape[:2], np.float32)
    count = int(rng.integers(40, 120))
    thickness = max(1, int(round(size / 256 * rng.uniform(1.0, 2.0))))
    bend = rng.normal(0, 0.15)
    t = np.linspace(0, 1, 8)
    x = rng.uniform(*span, count)[:, None]
    length = (reach - top) * rng.uniform(0.55, 1.1, count)[:, None]
    curve = ((sweep + rng.normal(0, 0.06, (count, 1))) * length * t
             + (bend + rng.normal(0, 0.05, (count, 1))) * length * t * t)
    strands = np.stack([x + curve, top + length * t], axis=2).astype(np.int32)
    # Two passes: every strand, then their upper parts again, so tips look thinner/fainter.
    cv2.polylines(layer, list(strands), False, 0.55, thickness, cv2.LINE_AA)
    cv2.polylines(layer, list(strands[:, :5]), False, 1.0, thickness, cv2.LINE_AA)
    if head_mask is not None:  # hair grows on the head: keep strands on (or just beside) it
        radius = max(2, int(size * 0.02))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        layer *= cv2.dilate((head_mask > 0.5).astype(np.float32), kernel)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6) * rng.uniform(0.75, 1.0)
    shade = 0.8 + 0.4 * _value_noise(rng, image.shape[0], 3, 16)
    colour = hair[None, None, :] * shade[..., None]
    m = np.clip(layer, 0, 1)[..., None]
    return overlay * (1 - m) + colour * m, "hair_fringe"


def _draw_long_hair(rng, background, lm2d, hair, size):
    """Hair falling beside and below the head, drawn on the background (behind the face)."""
    centre = lm2d[NOSE_TOP]
    width = np.ptp(lm2d[:, 0]) + 1.0
    height = np.ptp(lm2d[:, 1]) + 1.0
    mask = np.zeros(background.shape[:2], np.float32)
    c = (int(centre[0]), int(centre[1] + height * rng.uniform(0.1, 0.5)))
    axes = (int(width * rng.uniform(0.75, 1.1)), int(height * rng.uniform(1.0, 1.6)))
    cv2.ellipse(mask, c, axes, float(rng.uniform(-10, 10)), 0, 360, 1.0, -1, cv2.LINE_AA)
    texture = 0.8 + 0.4 * _value_noise(rng, background.shape[0], 3, 8)[..., None]
    m = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None]
    return background * (1 - m) + hair * texture * m, "long_hair"


def _draw_shape(rng, image, size):
    layer_colour = _random_colour(rng)
    mask = np.zeros(image.shape[:2], np.float32)
    kind = rng.choice(["rect", "ellipse", "poly", "bar"])
    c = rng.integers(0, size, 2)
    if kind == "rect":
        w, h = rng.integers(size // 10, size // 2, 2)
        cv2.rectangle(mask, (int(c[0] - w // 2), int(c[1] - h // 2)), (int(c[0] + w // 2), int(c[1] + h // 2)), 1.0, -1)
    elif kind == "ellipse":
        axes = tuple(int(v) for v in rng.integers(size // 16, size // 4, 2))
        cv2.ellipse(mask, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    elif kind == "poly":
        p = (c + rng.normal(0, size * 0.12, (int(rng.integers(3, 7)), 2))).astype(np.int32)
        cv2.fillPoly(mask, [p], 1.0, cv2.LINE_AA)
    else:  # a bar across the image (microphone stand, railing, strap)
        p = rng.integers(0, size, 4)
        cv2.line(mask, (int(p[0]), 0), (int(p[1]), size - 1), 1.0, int(rng.integers(size // 40, size // 10)), cv2.LINE_AA)
    texture = 0.7 + 0.6 * _value_noise(rng, size, 3, int(rng.integers(2, 16)))[..., None]
    opacity = rng.uniform(0.7, 1.0)
    m = mask[..., None] * opacity
    return image * (1 - m) + layer_colour * texture * m, str(kind)


# ----------------------------------------------------------------------------- camera


def _degrade(rng, image, config: SyntheticConfig, size: int) -> tuple[np.ndarray, list]:
    steps = []
    # Colour jitter (brightness, contrast, saturation, white balance).
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * rng.uniform(0.8, 1.25)
    image = (image - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.normal(0, 0.04)
    image = image * (1 + rng.normal(0, 0.03, 3))
    if rng.random() < config.low_res_probability:
        small = int(rng.integers(size // 6, size // 2))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA),
                           (size, size), interpolation=cv2.INTER_LINEAR)
        steps.append(f"low_res_{small}")
    if rng.random() < config.blur_probability:
        if rng.random() < 0.75:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.6))
            steps.append("blur")
        else:
            k = int(rng.integers(3, 9))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
            steps.append("motion_blur")
    if rng.random() < config.noise_probability:
        sigma = rng.uniform(0.005, 0.04)
        # cv2's generator is much faster than numpy's here; seed it from ours (deterministic).
        cv2.setRNGSeed(int(rng.integers(0, 2 ** 31 - 1)))
        noise = np.empty(image.shape, np.float32)
        cv2.randn(noise, 0.0, float(sigma))
        image = image + noise
        steps.append("noise")
    if rng.random() < config.grayscale_probability:
        image = np.repeat(image.mean(axis=2, keepdims=True), 3, axis=2)
        steps.append("grayscale")
    out = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < config.jpeg_probability:
        quality = int(rng.integers(30, 95))
        ok, data = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
            steps.append(f"jpeg_{quality}")
    return np.ascontiguousarray(out), steps


# ----------------------------------------------------------------------------- the sample


def generate_sample(seed: int, config: SyntheticConfig | None = None,
                    timings: dict | None = None) -> Sample:
    """One synthetic face, deterministic in ``seed`` (see the module docstring).

    ``timings``, if given, receives seconds spent per stage (for benchmarks).
    """
    config = config or SyntheticConfig()
    clock = _Clock(timings)
    res = _resources()
    model = res.model
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    size = int(config.image_size)
    clock.lap("setup")

    # Geometry in the model frame (micrometres, y up).
    shape, exp, open_mouth = _sample_coefficients(rng, model, config)
    n = res.num_bfm
    verts = model.vertices(shape, exp).astype(np.float64)
    cavity = _mouth_cavity(verts, res.slit, depth=rng.uniform(12000.0, 20000.0))
    cap = _head_cap(verts, res.border, scale=rng.uniform(0.95, 1.05))
    torso = _torso(verts, res.torso["neck"])
    render_verts = np.vstack([verts, cavity, cap, torso])
    clock.lap("shape")

    # Pose: model frame -> image frame (y down) -> rotate (engine's yaw/pitch/roll convention).
    yaw = rng.uniform(*config.yaw_range)
    pitch = rng.uniform(*config.pitch_range)
    roll = rng.uniform(*config.roll_range)
    rotation = euler_to_rotation(yaw, pitch, roll)
    flip = np.array([1.0, -1.0, 1.0])
    posed = (render_verts * flip) @ rotation.T
    lm_ids = model.landmark_ids
    bbox = landmark_box(posed[lm_ids, :2])
    if config.box_shift or config.box_scale_jitter:
        bbox = _jitter_box(rng, bbox, config)
    matrix = crop_matrix(bbox, size=size)
    crop_verts = image_to_crop(posed, matrix)
    clock.lap("pose")

    # The vertices are already in the crop frame: identity crop matrix.
    gt = crop_groundtruth(crop_verts[:n], model, matrix=np.eye(3), gather=uv_gather_for(model))
    clock.lap("groundtruth")

    normals = _vertex_normals(crop_verts.astype(np.float32), res.triangles, res.incidence)
    cap_dirs_y = (cap - _CAP_CENTRE)[:, 1] / np.linalg.norm(cap - _CAP_CENTRE, axis=1)
    albedo, appearance = _albedo(rng, res, len(cap), len(cavity), cap_dirs_y, config.hair_probability)
    albedo = np.vstack([albedo, _clothing(rng, np.array(appearance["skin_tone"]), len(torso))])
    shine = np.ones(len(render_verts), np.float32)
    shine[:n] = 0.6 + 0.8 * np.clip(res.regions["nose"] + (res.regions["forehead_height"] > 0) * 0.5, 0, 1)
    shine[n:] = 0.3
    colours, lighting = _shade(rng, albedo, normals, shine, config)
    clock.lap("appearance")

    ss = int(config.supersample)
    screen = crop_verts.copy()
    if ss > 1:
        screen[:, :2] = screen[:, :2] * ss + (ss - 1) / 2.0
    raster = rasterize(screen, res.triangles, size * ss, size * ss, cull_backfaces=True)
    clock.lap("raster")
    flat_pix, vertex_ids, weights = raster.covered()
    fg = np.zeros((size * ss * size * ss, 3), np.float32)
    fg[flat_pix] = (colours[vertex_ids[:, 0]] * weights[:, 0:1] + colours[vertex_ids[:, 1]] * weights[:, 1:2]
                    + colours[vertex_ids[:, 2]] * weights[:, 2:3])
    alpha = np.zeros(size * ss * size * ss, np.float32)
    alpha[flat_pix] = 1.0
    fg = fg.reshape(size * ss, size * ss, 3)
    alpha = alpha.reshape(size * ss, size * ss)
    if ss > 1:
        fg = cv2.resize(fg, (size, size), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_AREA)
    else:
        # Soften the silhouette by half a pixel instead of supersampling.
        soft = cv2.GaussianBlur(alpha, (3, 3), 0.5)
        fg = np.where(alpha[..., None] > 0, fg, cv2.GaussianBlur(fg, (3, 3), 0.5) / np.maximum(soft, 1e-3)[..., None])
        alpha = soft
    clock.lap("shading")

    background, bg_kind = _background(rng, size)
    lm2d = gt.landmarks[:, :2]
    occluders = []
    hair = np.array(appearance["hair_colour"], np.float32)
    if appearance["hair"] and rng.random() < config.long_hair_probability:
        background, name = _draw_long_hair(rng, background, lm2d, hair, size)
        occluders.append(name)
    image = fg * alpha[..., None] + background * (1 - alpha[..., None])
    # Which eyes are visible (for glasses): the landmark is not behind the rendered surface.
    visible = _landmarks_visible(raster, gt.landmarks, gt.z_shift, ss)
    eyes_visible = (visible[RIGHT_EYE].mean() > 0.5, visible[LEFT_EYE].mean() > 0.5)
    if rng.random() < config.occlusion_probability:
        for _ in range(int(rng.integers(1, config.max_occluders + 1))):
            u = rng.random()
            if u < config.glasses_probability and "glasses" not in occluders and "sunglasses" not in occluders:
                image, name = _draw_glasses(rng, image, lm2d, eyes_visible, size)
            elif u < config.glasses_probability + config.hand_probability:
                image, name = _draw_hand(rng, image, lm2d, np.array(appearance["skin_tone"]), size)
            elif u < config.glasses_probability + config.hand_probability + config.face_mask_probability:
                image, name = _draw_face_mask(rng, image, lm2d)
            elif u < 0.75 and appearance["hair"]:
                image, name = _draw_hair_strands(rng, image, lm2d, hair, size, alpha)
            else:
                image, name = _draw_shape(rng, image, size)
            occluders.append(name)
    clock.lap("background_occluders")
    image_u8, degradations = _degrade(rng, image.astype(np.float32), config, size)
    clock.lap("camera")

    params = {
        "seed": int(seed), "yaw": float(yaw), "pitch": float(pitch), "roll": float(roll),
        "angle_convention": "engine.pose.euler_to_rotation (R = Rz(roll) Ry(yaw) Rx(pitch))",
        "shape_coeffs": shape.round(2).tolist(), "exp_coeffs": exp.round(4).tolist(),
        "open_mouth": bool(open_mouth), "bbox_model_units": [float(v) for v in bbox],
        "z_shift": gt.z_shift, "background": bg_kind, "occluders": occluders,
        "degradations": degradations, "supersample": ss, **appearance, **lighting,
    }
    return Sample(image_u8, gt.position_map, gt.landmarks.astype(np.float32), params)


def _jitter_box(rng, bbox, config: SyntheticConfig):
    x0, y0, x1, y1 = bbox
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-1, 1) * config.box_shift * w
    cy = (y0 + y1) / 2 + rng.uniform(-1, 1) * config.box_shift * h
    s = 1.0 + rng.uniform(-1, 1) * config.box_scale_jitter
    return (cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2)


def _landmarks_visible(raster, landmarks: np.ndarray, z_shift: float, ss: int,
                       tolerance: float = 3.0) -> np.ndarray:
    """Landmarks not hidden behind the rendered surface (within ``tolerance`` crop pixels)."""
    height, width = raster.shape
    xs = np.clip(np.round(landmarks[:, 0] * ss + (ss - 1) / 2).astype(int), 0, width - 1)
    ys = np.clip(np.round(landmarks[:, 1] * ss + (ss - 1) / 2).astype(int), 0, height - 1)
    depth = raster.depth[ys, xs]
    # The raster has the crop frame's z; the landmarks had the ground truth's z shift removed.
    return np.isfinite(depth) & (depth <= landmarks[:, 2] + z_shift + tolerance)


class _Clock:
    def __init__(self, sink: dict | None):
        self.sink = sink
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.sink is None:
            return
        now = time.perf_counter()
        self.sink[name] = self.sink.get(name, 0.0) + now - self.last
        self.last = now


# ----------------------------------------------------------------------------- batches


def _worker_init(forked: bool) -> None:
    # Forked workers inherit the loaded resources. They must not touch cv2's (or torch's)
    # thread settings: reconfiguring a thread pool inherited through fork deadlocks.
    if not forked:
        cv2.setNumThreads(1)
        _resources()


def _worker_generate(args):
    seed, config = args
    return generate_sample(seed, config)


class SyntheticPool:
    """Worker processes that keep the generator's resources loaded between batches.

    On Linux the workers are forked after the parent has loaded the model, so they start
    instantly and share its memory; elsewhere they are spawned and load it once each.
    """

    def __init__(self, workers: int = 2) -> None:
        import multiprocessing as mp

        self.workers = max(1, int(workers))
        fork = hasattr(os, "fork") and "fork" in mp.get_all_start_methods()
        if fork:
            _resources()  # loaded once here, inherited by the forked workers
        context = mp.get_context("fork" if fork else "spawn")
        self._pool = context.Pool(self.workers, initializer=_worker_init, initargs=(fork,))

    def generate(self, seeds: Sequence[int], config: SyntheticConfig | None = None) -> list[Sample]:
        jobs = [(int(s), config) for s in seeds]
        chunk = max(1, len(jobs) // (4 * self.workers))
        return self._pool.map(_worker_generate, jobs, chunksize=chunk)

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> "SyntheticPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generate_batch(seeds: Sequence[int], config: SyntheticConfig | None = None,
                   workers: int = 2) -> list[Sample]:
    """Samples for ``seeds`` (in order), using ``workers`` processes (0 or 1: in-process).

    Each call starts and stops its own :class:`SyntheticPool`; keep a pool for repeated use.
    """
    seeds = [int(s) for s in seeds]
    if workers <= 1 or len(seeds) <= 1:
        return [generate_sample(s, config) for s in seeds]
    with SyntheticPool(workers) as pool:
        return pool.generate(seeds, config)


def contact_sheet(samples: Sequence[Sample], columns: int = 4, landmark_colour=(0, 255, 0)) -> np.ndarray:
    """A grid of sample crops with their 68 landmarks drawn (RGB uint8)."""
    tiles = []
    for sample in samples:
        tile = np.ascontiguousarray(sample.image.copy())
        for x, y in sample.landmarks[:, :2]:
            cv2.circle(tile, (int(round(x)), int(round(y))), 2, landmark_colour, -1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)
