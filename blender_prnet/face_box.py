"""The face box an artist drags over a photo in the Image Editor (no bpy).

The Image Editor's view space is UV: (0, 0) is the image's bottom-left corner and
(1, 1) its top-right. The engine wants photo pixels with y down from the top.
"""

from __future__ import annotations


def box_from_uv(u0: float, v0: float, u1: float, v1: float,
                width: int, height: int) -> tuple[int, int, int, int]:
    """Two dragged corners in UV -> (x0, y0, x1, y1) photo pixels, ordered and inside the image."""
    xs = sorted(min(max(u, 0.0), 1.0) * width for u in (u0, u1))
    ys = sorted((1.0 - min(max(v, 0.0), 1.0)) * height for v in (v0, v1))
    return int(round(xs[0])), int(round(ys[0])), int(round(xs[1])), int(round(ys[1]))


def box_is_usable(box, min_side: int = 8) -> bool:
    """A box worth reconstructing from: both sides at least ``min_side`` pixels."""
    x0, y0, x1, y1 = box
    return x1 - x0 >= min_side and y1 - y0 >= min_side
