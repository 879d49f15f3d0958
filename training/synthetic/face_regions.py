"""Soft per-vertex regions of the mean face (eyes, lips, brows, beard, cheeks, nose, ...).

Computed once on the BFM mean from its 68 landmarks (xy polygons on the front-facing
part, feathered by distance); the appearance step paints through them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.landmarks import (BROWS, INNER_LIPS, JAW, LEFT_BROW, LEFT_EYE, NOSE_BASE, NOSE_BOTTOM,
                              NOSE_TIP, OUTER_LIPS, RIGHT_BROW, RIGHT_EYE)


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


def face_regions(mean: np.ndarray, lm: np.ndarray) -> dict:
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
