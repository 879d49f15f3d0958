"""The render mesh: the BFM face completed by a mouth cavity, a head cap and a neck tube.

The BFM mesh is a mask (no back of the head, the neck cut off, an open mouth slit), so for
rendering only it is closed by rings swept from its borders: a dark cavity behind the
mouth slit, a cap from the outer border over an ellipsoid to the back of the head, and a
neck-and-shoulders tube. The topology is fixed (:func:`build_render_mesh`, once per
process); the added vertices follow each sample's face (:func:`mouth_cavity`,
:func:`head_cap`, :func:`torso_rings`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.landmarks import INNER_LIPS
from engine.mesh_edges import nearest_border_loop, outer_border_loop

from ..morphable_model import MorphableModel

CAP_CENTRE = np.array([0.0, 15000.0, 12000.0])   # BFM micrometres, y up, z front
_CAP_RADII = np.array([82000.0, 105000.0, 100000.0])
_CAP_RINGS = 6
_CAP_STEP = 4
# Neck/shoulder rings: (height above the neck's bottom edge, x scale, z scale, z offset),
# heights in micrometres, scales relative to the neck's half width / half depth.
TORSO_LEVELS = np.array([
    (25000, 0.95, 0.95, 0), (0, 1.0, 1.0, 0), (-25000, 1.05, 1.02, -3000),
    (-45000, 1.6, 1.15, -6000), (-65000, 2.5, 1.45, -10000), (-95000, 3.0, 1.6, -12000),
    (-170000, 3.15, 1.6, -12000)], np.float64)
TORSO_SEGMENTS = 40
_MOUTH_RINGS = 2


@dataclass(frozen=True)
class RenderMesh:
    triangles: np.ndarray          # render triangles over all render vertices
    num_bfm: int                   # the BFM vertices come first, then cavity, cap, torso
    slit: np.ndarray               # (S,) ordered mouth-slit loop vertex ids
    border: np.ndarray             # (B,) ordered outer border loop vertex ids
    neck: np.ndarray               # border vertices the torso tube hangs from
    incidence: object              # scipy CSR (V_render, M_render) for vertex normals


def build_render_mesh(model: MorphableModel) -> RenderMesh:
    """The render triangles over the BFM vertices and the added rings, oriented outwards."""
    import scipy.sparse as sp

    n = model.num_vertices
    tris = model.triangles
    mean = model.mean.astype(np.float64)
    slit = nearest_border_loop(tris, mean, mean[model.landmark_ids[INNER_LIPS]].mean(axis=0))
    border = outer_border_loop(tris, n)
    mouth_tris, next_id = _mouth_triangles(slit, n)
    cap_tris, next_id = _cap_triangles(border, next_id)
    # Orient the added triangles like the BFM's front faces (outwards; cavity towards the
    # mouth opening) so that back-face culling is valid for the whole render mesh.
    probe = np.vstack([mean, mouth_cavity(mean, slit, 15000.0), head_cap(mean, border, 1.0)]) * [1, -1, 1]
    mouth_tris = _orient(mouth_tris, probe, lambda centres: np.tile([0.0, 0.0, 1.0], (len(centres), 1)))
    cap_tris = _orient(cap_tris, probe, lambda centres: centres - CAP_CENTRE * [1, -1, 1])
    # Neck and shoulders: rings below the neck (the BFM mesh stops there).
    neck = border[mean[border, 1] < np.percentile(mean[border, 1], 25)]
    rings = [np.arange(next_id + k * TORSO_SEGMENTS, next_id + (k + 1) * TORSO_SEGMENTS)
             for k in range(len(TORSO_LEVELS))]
    next_id += len(TORSO_LEVELS) * TORSO_SEGMENTS
    torso_tris = []
    for a, c in zip(rings[:-1], rings[1:]):
        torso_tris += _ring_strip(a, c)
    torso_tris = np.array(torso_tris, np.int64)
    probe = np.vstack([probe, torso_rings(mean, neck) * [1, -1, 1]])
    axis_centre = mean[neck].mean(axis=0) * [1, -1, 1]
    torso_tris = _orient(torso_tris, probe,
                         lambda centres: (centres - axis_centre) * [1.0, 0.0, 1.0])
    all_tris = np.vstack([tris, mouth_tris, cap_tris, torso_tris])
    m = len(all_tris)
    incidence = sp.csr_matrix((np.ones(3 * m, np.float32),
                               (all_tris.ravel(), np.repeat(np.arange(m), 3))), shape=(next_id, m))
    return RenderMesh(all_tris, n, slit, border, neck, incidence)


def _ring_strip(a: np.ndarray, b: np.ndarray) -> list[tuple]:
    """Two triangles per segment between two closed rings of equal length."""
    count = len(a)
    out = []
    for k in range(count):
        k1 = (k + 1) % count
        out += [(a[k], a[k1], b[k]), (a[k1], b[k1], b[k])]
    return out


def _ring_fan(ring: np.ndarray, apex: int) -> list[tuple]:
    """A closed ring's triangles to one apex vertex."""
    return [(ring[k], ring[(k + 1) % len(ring)], apex) for k in range(len(ring))]


def _mouth_triangles(slit: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """The cavity: rings from the slit inwards and a centre vertex; the next free vertex id."""
    s = len(slit)
    rings = [slit]
    for _ in range(_MOUTH_RINGS):
        rings.append(np.arange(next_id, next_id + s))
        next_id += s
    centre = next_id
    next_id += 1
    tris = []
    for a, b in zip(rings[:-1], rings[1:]):
        tris += _ring_strip(a, b)
    tris += _ring_fan(rings[-1], centre)
    return np.array(tris, np.int64), next_id


def _cap_triangles(border: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """Rings from the outer border loop towards the back of the head, and the pole.

    The first ring keeps every border vertex; the others use every _CAP_STEP-th (fewer,
    larger triangles far from the face, where detail does not matter).
    """
    tris = []
    b = len(border)
    spokes = np.arange(0, b, _CAP_STEP)
    s_count = len(spokes)
    first = np.arange(next_id, next_id + s_count)
    next_id += s_count
    for k in range(s_count):
        start = spokes[k]
        stop = spokes[(k + 1) % s_count] if k + 1 < s_count else b
        for i in range(start, stop):
            tris.append((border[i], border[(i + 1) % b], first[k]))
        tris.append((border[stop % b], first[(k + 1) % s_count], first[k]))
    previous = first
    for _ in range(_CAP_RINGS - 1):
        ring = np.arange(next_id, next_id + s_count)
        next_id += s_count
        tris += _ring_strip(previous, ring)
        previous = ring
    pole = next_id
    next_id += 1
    tris += _ring_fan(previous, pole)
    return np.array(tris, np.int64), next_id


def _orient(tris: np.ndarray, verts: np.ndarray, outward) -> np.ndarray:
    """Flip triangles whose normal (image frame, (b - a) x (c - a)) points against ``outward``."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    normal = np.cross(b - a, c - a)
    centres = (a + b + c) / 3.0
    flip = (normal * outward(centres)).sum(axis=1) < 0
    out = tris.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def mouth_cavity(verts: np.ndarray, slit: np.ndarray, depth: float) -> np.ndarray:
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


def head_cap(verts: np.ndarray, border: np.ndarray, scale: float) -> np.ndarray:
    """Rings sweeping from the BFM outer border over an ellipsoid to the back of the head
    (one spoke per _CAP_STEP border vertices), then the pole."""
    start = verts[border[::_CAP_STEP]]
    centre = CAP_CENTRE
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


def torso_rings(verts: np.ndarray, neck: np.ndarray) -> np.ndarray:
    """Rings of an elliptic neck-and-shoulders tube under the BFM neck."""
    points = verts[neck]
    centre = points.mean(axis=0)
    half_x = max(np.ptp(points[:, 0]) / 2, 1.0)
    half_z = max(np.ptp(points[:, 2]) / 2, 1.0)
    bottom = points[:, 1].min()
    angle = np.linspace(0, 2 * np.pi, TORSO_SEGMENTS, endpoint=False)
    rings = []
    for dy, sx, sz, dz in TORSO_LEVELS:
        rings.append(np.stack([centre[0] + np.cos(angle) * half_x * sx,
                               np.full_like(angle, bottom + dy),
                               centre[2] + dz + np.sin(angle) * half_z * sz], axis=1))
    return np.vstack(rings)


def vertex_normals(verts: np.ndarray, tris: np.ndarray, incidence) -> np.ndarray:
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
