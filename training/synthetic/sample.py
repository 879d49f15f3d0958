"""One synthetic sample: identity, expression and pose, rendered and degraded, with its truth."""

from __future__ import annotations

import time

import cv2
import numpy as np

from engine.crop import crop_matrix, image_to_crop, landmark_box
from engine.landmarks import LEFT_EYE, RIGHT_EYE
from engine.pose import euler_to_rotation
from engine.render import rasterize

from ..groundtruth import Sample, crop_groundtruth, uv_gather_for
from ..morphable_model import MorphableModel
from .appearance import clothing, vertex_albedo
from .background import random_background
from .camera import degrade
from .config import SyntheticConfig
from .lighting import shade
from .occluders import add_long_hair, add_occluders
from .render_mesh import CAP_CENTRE, head_cap, mouth_cavity, torso_rings, vertex_normals
from .resources import load_resources


def generate_sample(seed: int, config: SyntheticConfig | None = None,
                    timings: dict | None = None) -> Sample:
    """One synthetic face, deterministic in ``seed`` (see :mod:`training.synthetic`).

    ``timings``, if given, receives seconds spent per stage (for benchmarks).
    """
    config = config or SyntheticConfig()
    clock = _Clock(timings)
    res = load_resources()
    model, mesh = res.model, res.mesh
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    size = int(config.image_size)
    clock.lap("setup")

    # Geometry in the model frame (micrometres, y up).
    shape, exp, open_mouth = _sample_coefficients(rng, model, config)
    n = mesh.num_bfm
    verts = model.vertices(shape, exp).astype(np.float64)
    ict_weights = _ict_expressions(seed, verts, config)
    cavity = mouth_cavity(verts, mesh.slit, depth=rng.uniform(12000.0, 20000.0))
    cap = head_cap(verts, mesh.border, scale=rng.uniform(0.95, 1.05))
    torso = torso_rings(verts, mesh.neck)
    render_verts = np.vstack([verts, cavity, cap, torso])
    clock.lap("shape")

    # Pose: model frame -> image frame (y down) -> rotate (engine's yaw/pitch/roll convention).
    yaw = rng.uniform(*config.yaw_range)
    pitch = rng.uniform(*config.pitch_range)
    roll = rng.uniform(*config.roll_range)
    rotation = euler_to_rotation(yaw, pitch, roll)
    flip = np.array([1.0, -1.0, 1.0])
    posed = (render_verts * flip) @ rotation.T
    bbox = landmark_box(posed[model.landmark_ids, :2])
    if config.box_shift or config.box_scale_jitter:
        bbox = _jitter_box(rng, bbox, config)
    matrix = crop_matrix(bbox, size=size)
    crop_verts = image_to_crop(posed, matrix)
    clock.lap("pose")

    # The vertices are already in the crop frame: identity crop matrix.
    gt = crop_groundtruth(crop_verts[:n], model, matrix=np.eye(3), gather=uv_gather_for(model))
    clock.lap("groundtruth")

    normals = vertex_normals(crop_verts.astype(np.float32), mesh.triangles, mesh.incidence)
    cap_dirs_y = (cap - CAP_CENTRE)[:, 1] / np.linalg.norm(cap - CAP_CENTRE, axis=1)
    albedo, appearance = vertex_albedo(rng, res, len(cap), len(cavity), cap_dirs_y,
                                       config.hair_probability)
    albedo = np.vstack([albedo, clothing(rng, np.array(appearance["skin_tone"]), len(torso))])
    shine = np.ones(len(render_verts), np.float32)
    shine[:n] = 0.6 + 0.8 * np.clip(res.regions["nose"] + (res.regions["forehead_height"] > 0) * 0.5, 0, 1)
    shine[n:] = 0.3
    colours, lighting = shade(rng, albedo, normals, shine, config)
    clock.lap("appearance")

    ss = int(config.supersample)
    screen = crop_verts.copy()
    if ss > 1:
        screen[:, :2] = screen[:, :2] * ss + (ss - 1) / 2.0
    raster = rasterize(screen, mesh.triangles, size * ss, size * ss, cull_backfaces=True)
    clock.lap("raster")
    fg, alpha = _face_layer(raster, colours, size, ss)
    clock.lap("shading")

    background, bg_kind = random_background(rng, size)
    lm2d = gt.landmarks[:, :2]
    background, occluders = add_long_hair(rng, background, lm2d, appearance, config, size)
    image = fg * alpha[..., None] + background * (1 - alpha[..., None])
    # Which eyes are visible (for glasses): the landmark is not behind the rendered surface.
    visible = _landmarks_visible(raster, gt.landmarks, gt.z_shift, ss)
    eyes_visible = (visible[RIGHT_EYE].mean() > 0.5, visible[LEFT_EYE].mean() > 0.5)
    image, occluders = add_occluders(rng, image, lm2d, eyes_visible, alpha, appearance, config,
                                     size, occluders)
    clock.lap("background_occluders")
    image_u8, degradations = degrade(rng, image.astype(np.float32), config, size)
    clock.lap("camera")

    params = {
        "seed": int(seed), "yaw": float(yaw), "pitch": float(pitch), "roll": float(roll),
        "angle_convention": "engine.pose.euler_to_rotation (R = Rz(roll) Ry(yaw) Rx(pitch))",
        "shape_coeffs": shape.round(2).tolist(), "exp_coeffs": exp.round(4).tolist(),
        "open_mouth": bool(open_mouth), "bbox_model_units": [float(v) for v in bbox],
        **({"ict_expressions": ict_weights} if ict_weights else {}),
        "z_shift": gt.z_shift, "background": bg_kind, "occluders": occluders,
        "degradations": degradations, "supersample": ss, **appearance, **lighting,
    }
    return Sample(image_u8, gt.position_map, gt.landmarks.astype(np.float32), params)


def _ict_expressions(seed: int, verts: np.ndarray, config: SyntheticConfig) -> dict:
    """Add ICT expressions to ``verts`` (in place) with their own random stream; their weights."""
    if config.ict_expression_probability <= 0:
        return {}
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1C7]))
    if rng.random() >= config.ict_expression_probability:
        return {}
    from engine.uv_layout import load_uv_layout

    from .ict_expressions import ict_expression_source, ict_offsets, sample_ict_weights

    source = ict_expression_source()
    weights = sample_ict_weights(rng, source.names)
    noneck = load_uv_layout().bfm_vertex_ids
    verts[noneck] += ict_offsets(source, weights, verts[noneck])
    return weights


def _sample_coefficients(rng: np.random.Generator, model: MorphableModel, config: SyntheticConfig
                         ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Identity and expression coefficients around the 300W-LP spread; some mouths open."""
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


def _face_layer(raster, colours: np.ndarray, size: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """The shaded face (size, size, 3) and its coverage alpha, from a raster ``ss`` times larger."""
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
    return fg, alpha


def _jitter_box(rng: np.random.Generator, bbox, config: SyntheticConfig) -> tuple[float, ...]:
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
    """Adds the seconds since the previous lap to ``sink[name]`` (nothing without a sink)."""

    def __init__(self, sink: dict | None):
        self.sink = sink
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.sink is None:
            return
        now = time.perf_counter()
        self.sink[name] = self.sink.get(name, 0.0) + now - self.last
        self.last = now
