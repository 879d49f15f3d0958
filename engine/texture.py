"""UV texture from the photo, its self-occlusion mask, and hole filling."""

from __future__ import annotations

import cv2
import numpy as np

from .render import rasterize


def face_window(points: np.ndarray, width: int, height: int, margin: int = 2) -> tuple[int, int, int, int]:
    """Integer pixel window (x0, y0, x1, y1) holding the points, clipped to the image."""
    x0 = int(np.clip(np.floor(points[:, 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(points[:, 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(points[:, 0].max()) + margin + 1, 0, width))
    y1 = int(np.clip(np.ceil(points[:, 1].max()) + margin + 1, 0, height))
    return x0, y0, x1, y1


# The rasteriser holds some 60 bytes per candidate pixel (a pixel of a triangle's bounding
# box row) while it runs: the depth map of a large face is rasterised in bands of rows holding
# about this many candidates each, whatever the face's size or folds.
RASTER_BAND_CANDIDATES = 1 << 20


def _raster_bands(top_y: np.ndarray, bottom_y: np.ndarray, widths: np.ndarray, y0: int, y1: int,
                  row_width: int) -> list[tuple[int, int]]:
    """Split rows [y0, y1) into bands of at most RASTER_BAND_CANDIDATES candidate pixels."""
    first = np.clip(np.ceil(top_y), y0, y1).astype(np.int64) - y0
    last = np.clip(np.floor(bottom_y) + 1, y0, y1).astype(np.int64) - y0
    rows = y1 - y0 + 1
    change = (np.bincount(first, weights=widths, minlength=rows)
              - np.bincount(last, weights=widths, minlength=rows))
    cost = np.cumsum(np.cumsum(change)[:-1] + row_width)
    bands, start, spent = [], 0, 0.0
    while start < y1 - y0:
        stop = max(start + 1, int(np.searchsorted(cost, spent + RASTER_BAND_CANDIDATES, "right")))
        bands.append((y0 + start, y0 + stop))
        spent, start = cost[stop - 1], stop
    return bands


def depth_map(vertices: np.ndarray, triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) float32 z of the nearest surface at each pixel, NaN where the face is not."""
    depth = np.full((height, width), np.nan, dtype=np.float32)
    x0, y0, x1, y1 = face_window(vertices, width, height)
    if x1 <= x0 or y1 <= y0:
        return depth
    if (x1 - x0) * (y1 - y0) * 4 <= RASTER_BAND_CANDIDATES:  # a usual face: one pass
        bands = [(y0, y1)]
        top_y = bottom_y = None
    else:
        ax, bx, cx = (vertices[triangles[:, k], 0] for k in range(3))
        ay, by, cy = (vertices[triangles[:, k], 1] for k in range(3))
        top_y, bottom_y = np.minimum(np.minimum(ay, by), cy), np.maximum(np.maximum(ay, by), cy)
        with np.errstate(invalid="ignore"):
            widths = np.nan_to_num(np.clip(np.ceil(np.maximum(np.maximum(ax, bx), cx))
                                           - np.floor(np.minimum(np.minimum(ax, bx), cx)) + 1,
                                           0, x1 - x0))
        top_y, bottom_y = np.nan_to_num(top_y, nan=np.inf), np.nan_to_num(bottom_y, nan=-np.inf)
        bands = _raster_bands(top_y, bottom_y, widths, y0, y1, x1 - x0)
    for top, bottom in bands:
        band = triangles if top_y is None else triangles[(bottom_y >= top - 1) & (top_y <= bottom)]
        if len(band):
            raster = rasterize(vertices - np.array([x0, top, 0.0]), band, bottom - top, x1 - x0)
            depth[top:bottom, x0:x1] = raster.depth
            del raster
    return depth


def sample_texture(image: np.ndarray, position_map: np.ndarray, size: int) -> np.ndarray:
    """Colour of the photo at each texel's projected position -> (size, size, 3) uint8.

    Reads only the photo's window under the texels (a view, no copy); outside the photo the
    nearest edge pixel is repeated, as if the whole photo were sampled.
    """
    positions = position_map if position_map.shape[0] == size else cv2.resize(
        position_map.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = face_window(positions.reshape(-1, positions.shape[-1]), width, height)
    x0, y0 = min(x0, width - 1), min(y0, height - 1)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    map_x = np.ascontiguousarray(positions[:, :, 0] - x0, dtype=np.float32)
    map_y = np.ascontiguousarray(positions[:, :, 1] - y0, dtype=np.float32)
    return cv2.remap(image[y0:y1, x0:x1], map_x, map_y, interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def texel_visibility(position_map: np.ndarray, uv_mask: np.ndarray, depth: np.ndarray,
                     tolerance: float) -> np.ndarray:
    """Texels inside the UV face region whose point is the nearest surface at its pixel."""
    size = uv_mask.shape[0]
    positions = position_map if position_map.shape[0] == size else cv2.resize(
        position_map.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    height, width = depth.shape
    cols = np.rint(positions[:, :, 0]).astype(np.int64)
    rows = np.rint(positions[:, :, 1]).astype(np.int64)
    inside = uv_mask & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    surface = np.full(uv_mask.shape, np.nan, dtype=np.float32)
    surface[inside] = depth[rows[inside], cols[inside]]
    with np.errstate(invalid="ignore"):
        return inside & (positions[:, :, 2] >= surface - tolerance)


def facing_camera(position_map: np.ndarray, min_cos: float) -> np.ndarray:
    """Texels whose surface faces the camera within ``arccos(min_cos)`` of the view axis.

    ``position_map`` is (S, S, 3) in image pixels (z towards the camera, x's scale). The
    normal is the cross product of the map's two UV derivatives; ``|n_z| / |n|`` is the
    cosine to the view axis, which is also how many image pixels a unit of surface covers.
    Near 0 (grazing) a few photo pixels are stretched over a wide band of texture: streaks.
    """
    positions = np.asarray(position_map, dtype=np.float32)
    along_rows, along_cols = np.gradient(positions, axis=(0, 1))
    normals = np.cross(along_cols, along_rows)
    length = np.linalg.norm(normals, axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.abs(normals[:, :, 2]) / length
    return np.nan_to_num(cosine, nan=0.0) >= min_cos


def fill_holes(texture: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown texels smoothly from known ones (push-pull over an image pyramid)."""
    if known.all() or not known.any():
        return texture.copy()
    weights = [known.astype(np.float32)]
    colours = [texture.astype(np.float32) * weights[0][:, :, None]]
    while min(weights[-1].shape) > 1:
        w, c = weights[-1], colours[-1]
        h2, w2 = (w.shape[0] + 1) // 2, (w.shape[1] + 1) // 2
        pad = ((0, h2 * 2 - w.shape[0]), (0, w2 * 2 - w.shape[1]))
        wp = np.pad(w, pad)
        cp = np.pad(c, pad + ((0, 0),))
        weights.append(wp.reshape(h2, 2, w2, 2).sum((1, 3)))
        colours.append(cp.reshape(h2, 2, w2, 2, 3).sum((1, 3)))
    filled = colours[-1] / np.maximum(weights[-1], 1e-6)[:, :, None]
    for level in range(len(weights) - 2, -1, -1):
        w, c = weights[level], colours[level]
        # bilinear, not nearest: a nearest pull leaves blocks of flat colour in large holes
        up = cv2.resize(filled.astype(np.float32), (filled.shape[1] * 2, filled.shape[0] * 2),
                        interpolation=cv2.INTER_LINEAR)[:w.shape[0], :w.shape[1]]
        own = c / np.maximum(w, 1e-6)[:, :, None]
        alpha = np.clip(w, 0, 1)[:, :, None]
        filled = own * alpha + up * (1 - alpha)
    result = texture.copy()
    result[~known] = np.clip(filled[~known] + 0.5, 0, 255).astype(texture.dtype)
    return result


def mirror_fill(texture: np.ndarray, known: np.ndarray, uv_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill hidden texels from their left-right mirror (the UV layout is symmetric) where seen."""
    mirrored = texture[:, ::-1]
    mirror_known = known[:, ::-1] & uv_mask
    take = ~known & mirror_known
    out = texture.copy()
    out[take] = mirrored[take]
    return out, known | take
