"""A vectorised z-buffer triangle rasteriser (numpy only, no external renderer).

Conventions: vertices are in pixel coordinates, x right, y down, z larger =
nearer the camera (the image frame of :mod:`engine.result`). Pixel centres are
at integer coordinates: pixel (row r, column c) covers the point (x=c, y=r).
A pixel belongs to a triangle when its centre is inside or on an edge, so two
triangles sharing an edge leave no gap; where both claim a pixel the nearer
one wins (ties: the larger triangle index, so results are deterministic).

How it is fast without a compiled loop: the barycentric coordinates are affine in
(x, y) and precomputed per triangle. Small triangles (the bulk of a dense face
mesh) are grouped by bounding-box size class, so each group is one broadcast
(triangles x box offsets) evaluation; larger triangles are expanded into
scanline spans first, so their cost is proportional to their area. The
surviving (pixel, triangle, depth) candidates go through a scatter-max z-buffer
(``np.maximum.at``).
Depth and barycentrics are interpolated linearly in screen space, which is
exact for the orthographic projections used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bounding-box side classes: a triangle whose box is w x h pixels is evaluated on the
# square of the next class up from max(w, h), so a handful of groups cover every size.
_SIZE_CLASSES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256,
                          384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192])
# Triangles whose bounding box is at most this many pixels on a side are evaluated on their
# whole box at once; larger ones go through scanline spans (work proportional to area).
_BOX_MAX = 8
# Cap on (triangles x box offsets) evaluated at once, and on triangles per scanline batch.
_CHUNK_ELEMENTS = 1 << 21
_SCANLINE_CHUNK = 4096
# Pixel centres this close outside an edge (in barycentric units) still count as inside,
# so that shared edges never crack because of rounding.
_EDGE_EPS = 1e-7


@dataclass(frozen=True)
class Raster:
    """Per-pixel result of :func:`rasterize`.

    ``triangle_index`` is -1 on the background, ``barycentric`` holds the weights of the
    triangle's three vertices (zero on the background) and ``depth`` the interpolated z
    (NaN on the background). ``triangles`` is the index array that was rasterised, kept
    so that :func:`interpolate` can look vertices up.
    """

    triangle_index: np.ndarray  # (H, W) int32
    barycentric: np.ndarray     # (H, W, 3) float32
    depth: np.ndarray           # (H, W) float32
    triangles: np.ndarray       # (M, 3) int64

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: pixels covered by some triangle."""
        return self.triangle_index >= 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.triangle_index.shape

    def covered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Compact form: (flat pixel indices (P,), vertex ids (P, 3), weights (P, 3))."""
        flat = np.flatnonzero(self.triangle_index.ravel() >= 0)
        tri = self.triangle_index.ravel()[flat]
        weights = self.barycentric.reshape(-1, 3)[flat]
        return flat, self.triangles[tri], weights


def _class_of(sizes: np.ndarray) -> np.ndarray:
    """Index of the smallest size class >= each size."""
    return np.searchsorted(_SIZE_CLASSES, sizes, side="left")


def rasterize(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int,
              cull_backfaces: bool = False) -> Raster:
    """Rasterise a triangle mesh with a z-buffer.

    Args:
        vertices: (N, 3) float, pixel coordinates (x right, y down, z larger = nearer).
        triangles: (M, 3) int vertex indices.
        height, width: output size in pixels.
        cull_backfaces: drop triangles whose signed area in pixel coordinates,
            (b - a) x (c - a) with x right and y down, is not positive. That is the winding
            of the BFM meshes' front faces in the image frame (they look clockwise on
            screen; in the raw y-up BFM frame they are clockwise seen from +z).

    Returns:
        :class:`Raster` with (H, W) triangle ids (int32, -1 background), (H, W, 3)
        float32 barycentrics and (H, W) float32 depth (NaN background).
    """
    verts = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"vertices must be (N, 3), got {verts.shape}")
    if tris.ndim != 2 or tris.shape[1] != 3:
        raise ValueError(f"triangles must be (M, 3), got {tris.shape}")
    if tris.size and (tris.min() < 0 or tris.max() >= len(verts)):
        raise ValueError("triangle indices out of range for the vertex array")
    height, width = int(height), int(width)

    tri_out = np.full(height * width, -1, dtype=np.int32)
    bary_out = np.zeros((height * width, 3), dtype=np.float32)
    depth_out = np.full(height * width, np.nan, dtype=np.float32)

    if len(tris) and height > 0 and width > 0:
        _rasterize_into(verts, tris, height, width, cull_backfaces, tri_out, bary_out, depth_out)
    return Raster(tri_out.reshape(height, width), bary_out.reshape(height, width, 3),
                  depth_out.reshape(height, width), tris)


def _rasterize_into(verts, tris, height, width, cull_backfaces, tri_out, bary_out, depth_out):
    # Contiguous 1-D gathers are several times faster than strided 2-D fancy indexing.
    vx, vy, vz = (np.ascontiguousarray(verts[:, k]) for k in range(3))
    ia, ib, ic = (np.ascontiguousarray(tris[:, k]) for k in range(3))
    ax_, ay_ = vx[ia], vy[ia]
    bx_, by_ = vx[ib], vy[ib]
    cx_, cy_ = vx[ic], vy[ic]
    bx, by = bx_ - ax_, by_ - ay_
    cx, cy = cx_ - ax_, cy_ - ay_
    area2 = bx * cy - by * cx
    original = None  # triangle ids of the rows below, when back faces were dropped
    if cull_backfaces:  # drop back faces before any further per-triangle work
        original = np.flatnonzero(area2 > 0)
        ia, ib, ic = ia[original], ib[original], ic[original]
        ax_, ay_, bx_, by_, cx_, cy_, bx, by, cx, cy, area2 = (
            v[original] for v in (ax_, ay_, bx_, by_, cx_, cy_, bx, by, cx, cy, area2))
    az_, bz_, cz_ = vz[ia], vz[ib], vz[ic]
    # Chained np.minimum is much faster than .min(axis=1) over (M, 3) rows.
    with np.errstate(invalid="ignore"):
        x0 = np.ceil(np.minimum(np.minimum(ax_, bx_), cx_))
        x1 = np.floor(np.maximum(np.maximum(ax_, bx_), cx_))
        y0 = np.ceil(np.minimum(np.minimum(ay_, by_), cy_))
        y1 = np.floor(np.maximum(np.maximum(ay_, by_), cy_))
        np.maximum(x0, 0, out=x0)
        np.minimum(x1, width - 1, out=x1)
        np.maximum(y0, 0, out=y0)
        np.minimum(y1, height - 1, out=y1)
        # NaN/inf vertices make the comparisons below False, which drops their triangles.
        ok = (x1 >= x0) & (y1 >= y0) & (np.abs(area2) > 1e-12) & np.isfinite(az_ + bz_ + cz_)
    keep = np.flatnonzero(ok)
    if keep.size == 0:
        return
    triangle_id = keep if original is None else original[keep]
    x0, y0 = x0[keep], y0[keep]
    box_w = (x1[keep] - x0 + 1).astype(np.int64)
    box_h = (y1[keep] - y0 + 1).astype(np.int64)

    # Barycentrics of b and c are affine in the pixel offset (dx, dy) from (x0, y0):
    # w = base + px * dx + py * dy, set up in float64 per triangle, run in float32 per pixel.
    inv = 1.0 / area2[keep]
    bx, by, cx, cy = bx[keep], by[keep], cx[keep], cy[keep]
    rel_x, rel_y = ax_[keep] - x0, ay_[keep] - y0      # vertex a relative to the box corner
    pb_x, pb_y = cy * inv, -cx * inv
    pc_x, pc_y = -by * inv, bx * inv
    za = az_[keep]
    coeffs = [(-(pb_x * rel_x + pb_y * rel_y)), pb_x, pb_y,
              (-(pc_x * rel_x + pc_y * rel_y)), pc_x, pc_y,
              za, bz_[keep] - za, cz_[keep] - za]
    coeffs64 = coeffs
    coeffs = [k.astype(np.float32) for k in coeffs]
    origin = (y0 * width + x0).astype(np.int64)

    pix_parts, tri_parts, z_parts, wb_parts, wc_parts = [], [], [], [], []

    def emit(tri_rows, dx, dy, wb, wc):
        pix_parts.append(origin[tri_rows] + dy * width + dx)
        tri_parts.append(triangle_id[tri_rows])
        z_parts.append(coeffs[6][tri_rows] + coeffs[7][tri_rows] * wb + coeffs[8][tri_rows] * wc)
        wb_parts.append(wb)
        wc_parts.append(wc)

    # Small triangles: one broadcast per square box class (the usual case for dense meshes).
    side = np.maximum(box_w, box_h)
    small = np.flatnonzero(side <= _BOX_MAX)
    group_key = _class_of(side[small])
    order = small[np.argsort(group_key, kind="stable")]
    keys_sorted = np.sort(group_key, kind="stable")
    starts = np.flatnonzero(np.r_[True, keys_sorted[1:] != keys_sorted[:-1]]) if len(order) else []
    ends = np.r_[starts[1:], len(order)] if len(order) else []
    for start, end in zip(starts, ends):
        gw = gh = int(_SIZE_CLASSES[keys_sorted[start]])
        dy, dx = np.divmod(np.arange(gw * gh, dtype=np.int64), gw)
        dxf, dyf = dx.astype(np.float32), dy.astype(np.float32)
        members = order[start:end]
        step = max(1, _CHUNK_ELEMENTS // (gw * gh))
        for chunk_start in range(0, len(members), step):
            ids = members[chunk_start:chunk_start + step]
            kb0, kbx, kby, kc0, kcx, kcy = (coeffs[j][ids][:, None] for j in range(6))
            wb = kb0 + kbx * dxf + kby * dyf
            wc = kc0 + kcx * dxf + kcy * dyf
            inside = (wb >= -_EDGE_EPS) & (wc >= -_EDGE_EPS) & (wb + wc <= 1 + _EDGE_EPS)
            if gw > 1 or gh > 1:
                inside &= (dx < box_w[ids, None]) & (dy < box_h[ids, None])
            rows, cols = np.nonzero(inside)
            if rows.size:
                emit(ids[rows], dx[cols], dy[cols], wb[rows, cols], wc[rows, cols])

    # Larger triangles: scanlines. Each row's span comes from the three edge inequalities
    # (widened by a pixel), then the same float32 inside test as above decides, so shared
    # edges are classified identically whichever path a triangle takes.
    big = np.flatnonzero(side > _BOX_MAX)
    for chunk_start in range(0, len(big), _SCANLINE_CHUNK):
        ids = big[chunk_start:chunk_start + _SCANLINE_CHUNK]
        heights = box_h[ids]
        row_tri = np.repeat(ids, heights)
        row_dy = np.arange(heights.sum(), dtype=np.int64) - np.repeat(np.cumsum(heights) - heights, heights)
        lo = np.zeros(len(row_tri))
        hi = box_w[row_tri].astype(np.float64) - 1.0
        dyf64 = row_dy.astype(np.float64)
        base_b, px_b, py_b, base_c, px_c, py_c = (c[row_tri] for c in coeffs64[:6])
        for const, slope in ((base_b + py_b * dyf64, px_b), (base_c + py_c * dyf64, px_c),
                             (1.0 - (base_b + base_c) - (py_b + py_c) * dyf64, -(px_b + px_c))):
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = (-_EDGE_EPS - const) / slope
            lo = np.where(slope > 0, np.maximum(lo, np.ceil(bound) - 1), lo)
            hi = np.where(slope < 0, np.minimum(hi, np.floor(bound) + 1), hi)
            hi = np.where((slope == 0) & (const < -_EDGE_EPS), -1.0, hi)
        lo = np.maximum(lo, 0).astype(np.int64)
        hi = np.minimum(hi, box_w[row_tri] - 1).astype(np.int64)
        counts = np.maximum(hi - lo + 1, 0)
        pix_tri = np.repeat(row_tri, counts)
        if pix_tri.size == 0:
            continue
        dy = np.repeat(row_dy, counts)
        dx = np.repeat(lo, counts) + (np.arange(counts.sum(), dtype=np.int64)
                                      - np.repeat(np.cumsum(counts) - counts, counts))
        dxf, dyf = dx.astype(np.float32), dy.astype(np.float32)
        wb = coeffs[0][pix_tri] + coeffs[1][pix_tri] * dxf + coeffs[2][pix_tri] * dyf
        wc = coeffs[3][pix_tri] + coeffs[4][pix_tri] * dxf + coeffs[5][pix_tri] * dyf
        inside = (wb >= -_EDGE_EPS) & (wc >= -_EDGE_EPS) & (wb + wc <= 1 + _EDGE_EPS)
        emit(pix_tri[inside], dx[inside], dy[inside], wb[inside], wc[inside])
    if not pix_parts:
        return
    pix = np.concatenate(pix_parts)
    tri_id = np.concatenate(tri_parts)
    z = np.concatenate(z_parts)
    wb = np.concatenate(wb_parts)
    wc = np.concatenate(wc_parts)

    # Z-buffer: nearest depth per pixel, then the largest triangle id among exact ties.
    zbuf = np.full(height * width, -np.inf, dtype=np.float32)
    np.maximum.at(zbuf, pix, z)
    front = z >= zbuf[pix]
    pix, tri_id, z, wb, wc = pix[front], tri_id[front], z[front], wb[front], wc[front]
    tbuf = np.full(height * width, -1, dtype=np.int64)
    np.maximum.at(tbuf, pix, tri_id)
    win = tri_id == tbuf[pix]
    pix, tri_id, z, wb, wc = pix[win], tri_id[win], z[win], wb[win], wc[win]

    # Clamp the tiny negative weights allowed at edges so interpolation never extrapolates.
    wb = np.clip(wb, 0.0, 1.0)
    wc = np.clip(wc, 0.0, 1.0)
    total = wb + wc
    over = total > 1.0
    wb[over] /= total[over]
    wc[over] /= total[over]
    tri_out[pix] = tri_id
    bary_out[pix, 0] = 1.0 - wb - wc
    bary_out[pix, 1] = wb
    bary_out[pix, 2] = wc
    depth_out[pix] = z


def interpolate(raster: Raster, vertex_attributes: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Interpolate per-vertex attributes (N, C) (or (N,)) over the raster -> (H, W, C).

    Background pixels get ``fill``. The result is float32 unless the attributes are float64.
    """
    attrs = np.asarray(vertex_attributes)
    squeeze = attrs.ndim == 1
    if squeeze:
        attrs = attrs[:, None]
    dtype = np.float64 if attrs.dtype == np.float64 else np.float32
    height, width = raster.shape
    out = np.full((height * width, attrs.shape[1]), fill, dtype=dtype)
    flat, vertex_ids, weights = raster.covered()
    if flat.size:
        weights = weights.astype(dtype)
        values = (attrs[vertex_ids[:, 0]] * weights[:, 0:1]
                  + attrs[vertex_ids[:, 1]] * weights[:, 1:2]
                  + attrs[vertex_ids[:, 2]] * weights[:, 2:3])
        out[flat] = values
    out = out.reshape(height, width, attrs.shape[1])
    return out[..., 0] if squeeze else out


@dataclass(frozen=True)
class PixelGather:
    """A raster frozen into a gather: for fixed triangles and screen positions (e.g. a mesh
    laid out in UV space) interpolating new per-vertex attributes is one weighted gather."""

    shape: tuple[int, int]
    flat: np.ndarray          # (P,) covered flat pixel indices
    vertex_ids: np.ndarray    # (P, 3)
    weights: np.ndarray       # (P, 3) float32

    @classmethod
    def from_raster(cls, raster: Raster) -> "PixelGather":
        flat, vertex_ids, weights = raster.covered()
        return cls(raster.shape, flat, vertex_ids, weights.astype(np.float32))

    def apply(self, vertex_attributes: np.ndarray, fill: float = 0.0,
              dtype=np.float32) -> np.ndarray:
        attrs = np.asarray(vertex_attributes, dtype=dtype)
        squeeze = attrs.ndim == 1
        if squeeze:
            attrs = attrs[:, None]
        height, width = self.shape
        out = np.full((height * width, attrs.shape[1]), fill, dtype=dtype)
        w = self.weights
        out[self.flat] = (attrs[self.vertex_ids[:, 0]] * w[:, 0:1]
                          + attrs[self.vertex_ids[:, 1]] * w[:, 1:2]
                          + attrs[self.vertex_ids[:, 2]] * w[:, 2:3])
        out = out.reshape(height, width, attrs.shape[1])
        return out[..., 0] if squeeze else out
