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


def depth_map(vertices: np.ndarray, triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) float32 z of the nearest surface at each pixel, NaN where the face is not."""
    depth = np.full((height, width), np.nan, dtype=np.float32)
    x0, y0, x1, y1 = face_window(vertices, width, height)
    if x1 <= x0 or y1 <= y0:
        return depth
    shifted = vertices - np.array([x0, y0, 0.0])
    raster = rasterize(shifted, triangles, y1 - y0, x1 - x0)
    depth[y0:y1, x0:x1] = raster.depth
    return depth


def sample_texture(image: np.ndarray, position_map: np.ndarray, size: int) -> np.ndarray:
    """Colour of the photo at each texel's projected position -> (size, size, 3) uint8."""
    positions = position_map if position_map.shape[0] == size else cv2.resize(
        position_map.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    map_x = np.ascontiguousarray(positions[:, :, 0], dtype=np.float32)
    map_y = np.ascontiguousarray(positions[:, :, 1], dtype=np.float32)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR,
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
        up = np.repeat(np.repeat(filled, 2, axis=0), 2, axis=1)[:w.shape[0], :w.shape[1]]
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
