"""Closed mouths stay closed: the BFM mesh's mouth slit, and welding it when the lips touch.

The BFM-topology mesh has a slit between the lips (a hole in the mesh, a topology choice).
Read from a predicted position map, the two lips of a closed mouth come out close but not
together, and the slit shows as a dark open line. :func:`weld_closed_lips` moves the two
lip chains of the slit onto each other when the predicted inner lips touch (their gap is
under ``CLOSED_GAP`` of the mouth width), keeping the topology (38,365 vertices, 76,073
triangles): a closed mouth then renders closed, an open one is left as predicted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .landmarks import INNER_LIPS, MOUTH_LEFT, MOUTH_RIGHT
from .mesh_edges import nearest_border_loop
from .uv_layout import UVLayout

# Inner-lip landmark gap / mouth width below which the lips are taken to touch. Measured on
# ground truth: the BFM mean face (lips together, its slit about 4% of the mouth width wide)
# gives 0.051; 25 held-out synthetic faces gave 0.02-0.09 for nearly closed mouths and
# >= 0.19 for the generator's open mouths.
CLOSED_GAP = 0.08
MOUTH_CORNERS = (MOUTH_RIGHT, MOUTH_LEFT)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


@dataclass(frozen=True)
class MouthSlit:
    """The slit's two lip chains, corner to corner, as BFM-topology vertex indices."""

    upper: np.ndarray
    lower: np.ndarray


@functools.lru_cache(maxsize=4)
def mouth_slit(layout: UVLayout) -> MouthSlit:
    """The mouth slit of the layout's mesh: the border loop nearest the inner-lip landmarks
    in UV, split at its leftmost and rightmost UV columns."""
    pixels = layout.bfm_map_pixels
    centre = layout.landmark_map_pixels[list(INNER_LIPS)].mean(axis=0)
    loop = nearest_border_loop(layout.bfm_triangles, pixels, centre)
    left, right = int(np.argmin(pixels[loop, 0])), int(np.argmax(pixels[loop, 0]))
    rolled = np.roll(loop, -left)
    cut = (right - left) % len(loop)
    chain_a = rolled[:cut + 1]
    chain_b = np.r_[rolled[cut:], rolled[:1]][::-1]
    # rows grow downwards in the map: the upper lip has the smaller mean row
    if pixels[chain_a, 1].mean() > pixels[chain_b, 1].mean():
        chain_a, chain_b = chain_b, chain_a
    return MouthSlit(upper=chain_a, lower=chain_b)


def lip_gap(landmarks: np.ndarray) -> float:
    """Mean 3D distance of the inner-lip landmark pairs over the mouth width."""
    points = np.asarray(landmarks, dtype=np.float64)
    width = np.linalg.norm(points[MOUTH_CORNERS[0]] - points[MOUTH_CORNERS[1]])
    gaps = [np.linalg.norm(points[a] - points[b]) for a, b in INNER_LIP_PAIRS]
    return float(np.mean(gaps) / width) if width > 0 else float("inf")


def _partner_points(chain: np.ndarray, other: np.ndarray, vertices: np.ndarray,
                    columns: np.ndarray) -> np.ndarray:
    """Positions on ``other`` at the UV columns of ``chain``'s vertices (linear along it)."""
    order = np.argsort(columns[other])
    other_cols = columns[other][order]
    other_pos = vertices[other][order]
    return np.stack([np.interp(columns[chain], other_cols, other_pos[:, k]) for k in range(3)], axis=1)


def weld_closed_lips(vertices: np.ndarray, landmarks: np.ndarray, layout: UVLayout,
                     closed_gap: float = CLOSED_GAP) -> tuple[np.ndarray, bool]:
    """``(vertices, welded)``: the lip chains moved onto their midline if the lips touch."""
    if lip_gap(landmarks) >= closed_gap:
        return vertices, False
    slit = mouth_slit(layout)
    columns = layout.bfm_map_pixels[:, 0]
    out = np.array(vertices, dtype=np.float64, copy=True)
    upper_target = 0.5 * (out[slit.upper] + _partner_points(slit.upper, slit.lower, out, columns))
    lower_target = 0.5 * (out[slit.lower] + _partner_points(slit.lower, slit.upper, out, columns))
    out[slit.upper] = upper_target
    out[slit.lower] = lower_target
    return out, True
