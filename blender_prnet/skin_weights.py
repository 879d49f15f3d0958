"""Skinning weights for a PRNet face from distances over its surface (numpy + scipy, no bpy).

Blender's Bone Heat fails on the PRNet mesh ("failed to find solution", no vertex
weighted), and the topology is fixed, so the weights are computed here, in two layers:

1. **Landmark bones, locally.** Each deform bone sitting on landmarks gets a smooth,
   compact falloff ``(1 - (d / radius)^2)^3`` of the distance ``d`` over the surface
   (see surface_distance) to its landmarks, about a centimetre wide. Where several
   overlap, they share at most the whole vertex.
2. **Regions, smoothly.** What the landmark bones leave goes to the region bones:
   the **jaw** (Rigify's ``DEF-jaw``, the generic rig's ``jaw``) where the nearest
   landmarks move with the lower jaw (``landmarks.JAW_FOLLOWERS``), the **rest**
   bone (the head) elsewhere. That split is diffused over the surface, so the
   lower face blends from jaw to head over ``region_smoothing``, the mouth
   corners go about half way, and the upper lip, though it touches the lower one,
   stays with the head (the mouth slit is not crossed).

At most ``max_influences`` bones per vertex (usually fewer: the falloffs are
compact), normalised to sum to 1. A rig without a jaw or rest bone gives that
share to the nearest landmark bones instead. Lengths in the settings are in units
of ``face_size`` (the caller passes the distance between the outer eye corners),
so the same settings fit any scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .surface_distance import SurfaceDistance


@dataclass(frozen=True)
class BlendSettings:
    radius: float = 0.15            # a landmark bone's reach (~13 mm on an adult)
    region_smoothing: float = 0.12  # width of the jaw-to-head blend (~1 cm)
    smoothing_steps: int = 4        # implicit diffusion steps (more: closer to a Gaussian)
    region_clip: float = 0.05       # jaw shares below this are 0, above 1 - this are 1
    nearest_width: float = 0.05     # softness of "nearest landmark" splits
    max_influences: int = 4


@dataclass(frozen=True)
class Regions:
    """The region bones and which landmark vertices decide between them."""

    rest_bone: str | None = None
    jaw_bone: str | None = None
    jaw_vertices: Sequence[int] = field(default_factory=tuple)    # landmarks moving with the jaw
    head_vertices: Sequence[int] = field(default_factory=tuple)   # the other landmarks


def smootherstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, and 6x^5 - 15x^4 + 10x^3 between: flat (C2) at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def local_weights(distances: np.ndarray, reach: float) -> np.ndarray:
    """(K, N) distances -> (N, K) compact smooth falloffs; each row sums to at most 1."""
    x = np.asarray(distances, dtype=np.float64).T / float(reach)
    raw = np.where(x < 1.0, (1.0 - np.minimum(x, 1.0) ** 2) ** 3, 0.0)
    total = raw.sum(axis=1, keepdims=True)
    return raw / np.maximum(total, 1.0)


def nearest_split(first: np.ndarray, second: np.ndarray, width: float) -> np.ndarray:
    """(N,) share of ``first``: 1 where it is much nearer than ``second``, 1/2 where equally near."""
    difference = np.where(np.isfinite(first) & np.isfinite(second), second - first,
                          np.where(np.isfinite(first), np.inf, -np.inf))
    return 0.5 * (1.0 + np.tanh(np.clip(difference / (2.0 * width), -50.0, 50.0)))


def softmin_weights(distances: np.ndarray, width: float) -> np.ndarray:
    """(K, N) distances -> (N, K) weights of the nearest sources, softly; rows sum to 1 or 0."""
    d = np.asarray(distances, dtype=np.float64)
    nearest = d.min(axis=0)
    finite = np.isfinite(d) & np.isfinite(nearest)
    raw = np.where(finite, np.exp(-(np.where(finite, d, 0.0) - np.where(np.isfinite(nearest),
                                                                       nearest, 0.0)) / width), 0.0)
    total = raw.sum(axis=0)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0).T


def limit_influences(weights: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` weights per row, summing to 1, and continuous in the input.

    Plain top-k jumps where the k-th and the next swap places, which tears the
    mesh; subtracting the (k+1)-th largest from the top k fades the k-th out
    before it is dropped.
    """
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    if weights.shape[1] > count:
        order = np.argsort(-weights, axis=1)
        top = order[:, :count]
        threshold = np.take_along_axis(weights, order[:, count:count + 1], axis=1)
        values = np.take_along_axis(weights, top, axis=1) - threshold
        tied = (values.sum(axis=1) <= 0.0) & (threshold[:, 0] > 0.0)  # top k equal to the next
        values[tied] = 1.0
        weights = np.zeros_like(weights)
        np.put_along_axis(weights, top, values, axis=1)
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def anchor_landmarks(segments: Mapping[str, tuple[np.ndarray, np.ndarray]], landmarks: np.ndarray,
                     mapped: Mapping[str, Sequence[int]], tolerance: float) -> dict[str, list[int]]:
    """Each deform bone's landmarks: those a preset maps to it, and those its head or tail sits on.

    ``segments``: bone -> (head, tail) in the rest pose, in the landmarks' space.
    The second rule covers chains: a Rigify lip bone snapped onto landmark 51
    has its tail on 53, where the next bone's head was snapped.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    anchors = {}
    for name, (head, tail) in segments.items():
        found = set(mapped.get(name, ()))
        for end in (head, tail):
            near = np.linalg.norm(landmarks - np.asarray(end, dtype=np.float64), axis=1) < tolerance
            found.update(int(i) for i in np.flatnonzero(near))
        if found:
            anchors[name] = sorted(found)
    return anchors


def face_weights(vertices: np.ndarray, triangles: np.ndarray, anchors: Mapping[str, Sequence[int]],
                 regions: Regions, face_size: float,
                 settings: BlendSettings = BlendSettings()) -> tuple[list[str], np.ndarray]:
    """Bone names and their (N, bones) weights; ``anchors``: landmark bone -> anchor vertices."""
    names = list(anchors)
    if not names:
        raise ValueError("no bone has anchor vertices")
    surface = SurfaceDistance(vertices, triangles)
    distances = surface.distances([anchors[n] for n in names])
    local = local_weights(distances, settings.radius * face_size)
    left = 1.0 - local.sum(axis=1)                                  # for the region bones
    # The lower face's share: nearest landmarks moving with the jaw, diffused.
    if regions.jaw_vertices and regions.head_vertices:
        to_jaw, to_head = surface.distances([regions.jaw_vertices, regions.head_vertices])
        jaw = nearest_split(to_jaw, to_head, settings.nearest_width * face_size)
        jaw = surface.smooth(jaw[:, None], settings.region_smoothing * face_size,
                             settings.smoothing_steps)[:, 0]
        # Diffusion never quite reaches 0 or 1: make the chin exactly jaw and the brow exactly
        # head outside the blend band (a smooth curve: the band stays smooth).
        jaw = smootherstep((jaw - settings.region_clip) / (1.0 - 2.0 * settings.region_clip))
    else:
        jaw = np.zeros(len(local))
    columns, extra = [local], []
    unclaimed = np.zeros(len(local))  # region shares without a region bone
    for bone, share in ((regions.jaw_bone, jaw), (regions.rest_bone, 1.0 - jaw)):
        if bone is not None:
            columns.append((left * share)[:, None])
            extra.append(bone)
        else:
            unclaimed += left * share
    weights = np.concatenate(columns, axis=1)
    weights[:, :len(names)] += unclaimed[:, None] * softmin_weights(
        distances, settings.nearest_width * face_size)
    return names + extra, limit_influences(weights, settings.max_influences)
