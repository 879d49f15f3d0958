"""Reading everything from a position map: points, landmarks, mesh, colours, pose, texture, depth."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .crop import crop_to_image
from .lips import weld_closed_lips
from .pose import estimate_pose, frontalize
from .result import Mesh, ReconstructionResult
from .texture import (depth_map, facing_camera, fill_holes, mirror_fill, sample_texture,
                      texel_visibility)
from .uv_layout import (MAP_SIZE, UVLayout, read_landmarks, read_landmarks_in_image,
                        sample_bilinear)

# Texels within this fraction of the face width behind the visible surface still count as seen.
VISIBILITY_TOLERANCE = 0.02
# Texels seen at more than about 75 degrees from the view axis smear into streaks; they are
# taken from their mirror texel (or filled) like hidden ones.
GRAZING_COS = 0.25


def orient_towards_camera(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Wind all triangles counter-clockwise seen from the camera in the y-up mesh frame.

    ``vertices`` are a frontal face in the image frame (y down). The decision is
    global (area-weighted over the mesh): triangles at the silhouette legitimately
    face sideways, so flipping them one by one would break a consistent winding.
    """
    world = vertices * np.array([1.0, -1.0, 1.0])
    a, b, c = (world[triangles[:, i]] for i in range(3))
    facing = np.cross(b - a, c - a)[:, 2].sum()
    return triangles.copy() if facing >= 0 else triangles[:, [0, 2, 1]].copy()


def _canonical_at(layout: UVLayout, pixels: np.ndarray) -> np.ndarray:
    canonical_map = np.zeros((MAP_SIZE * MAP_SIZE, 3))
    canonical_map[layout.face_indices] = layout.canonical_vertices
    return sample_bilinear(canonical_map.reshape(MAP_SIZE, MAP_SIZE, 3), pixels)


@functools.lru_cache(maxsize=8)
def mesh_topology(layout: UVLayout, topology: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(grid flat indices or None, triangles wound towards the camera, UVs) of a topology."""
    if topology == "bfm":
        canonical = _canonical_at(layout, layout.bfm_map_pixels)
        return None, orient_towards_camera(canonical, layout.bfm_triangles), layout.bfm_uv
    if topology == "grid":
        flat, triangles, uvs = layout.grid
        rows, cols = np.divmod(flat, MAP_SIZE)
        canonical = _canonical_at(layout, np.stack([cols, rows], axis=1).astype(np.float64))
        return flat, orient_towards_camera(canonical, triangles), uvs
    raise ValueError(f"unknown topology {topology!r}")


@functools.lru_cache(maxsize=8)
def uv_mask(layout: UVLayout, size: int) -> np.ndarray:
    mask = layout.face_mask.astype(np.uint8) * 255
    if size != MAP_SIZE:
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
    return mask > 127


def resize_map(position_map: np.ndarray, size: int) -> np.ndarray:
    if position_map.shape[0] == size:
        return position_map
    return cv2.resize(position_map, (size, size), interpolation=cv2.INTER_LINEAR)


def decode_position_map(image: np.ndarray, crop_map: np.ndarray, matrix: np.ndarray,
                        bbox: tuple[float, float, float, float], layout: UVLayout,
                        topology: str = "bfm", texture_size: int = MAP_SIZE,
                        path: str | None = None, landmark_map: np.ndarray | None = None
                        ) -> ReconstructionResult:
    """Everything read from a position map predicted in the crop that ``matrix`` defines;
    the landmarks from ``landmark_map`` (same frame) when given (the unsmoothed map)."""
    height, width = image.shape[:2]
    position_map = crop_to_image(crop_map, matrix).astype(np.float32)
    flat = position_map.reshape(-1, 3)
    dense = flat[layout.face_indices].astype(np.float64)
    landmarks = (read_landmarks(position_map, layout) if landmark_map is None else
                 read_landmarks_in_image(landmark_map, layout, matrix))

    grid_flat, triangles, uvs = mesh_topology(layout, topology)
    welded = False
    if grid_flat is None:
        vertices = sample_bilinear(position_map.astype(np.float64), layout.bfm_map_pixels)
        vertices, welded = weld_closed_lips(vertices, landmarks, layout)
    else:
        vertices = flat[grid_flat].astype(np.float64)
    colors = sample_bilinear(image, vertices[:, :2]) / 255.0  # uint8 in: no float copy of the photo

    pose = estimate_pose(dense, layout.canonical_vertices)
    depth = depth_map(vertices, triangles, width, height)

    texture_positions = resize_map(position_map, texture_size)
    texture = sample_texture(image, texture_positions, texture_size)
    mask = uv_mask(layout, texture_size)
    face_width = float(np.ptp(dense[:, 0])) or 1.0
    visible = texel_visibility(texture_positions, mask, depth, VISIBILITY_TOLERANCE * face_width)
    visible &= facing_camera(texture_positions, GRAZING_COS)
    filled, known = mirror_fill(texture, visible, mask)
    texture = fill_holes(filled, known)

    return ReconstructionResult(
        image_size=(width, height), bbox=tuple(float(v) for v in bbox), crop_matrix=matrix,
        position_map=position_map, dense_points=dense, landmarks=landmarks,
        mesh=Mesh(vertices=vertices, triangles=triangles, uvs=uvs,
                  colors=colors.astype(np.float64), topology=topology),
        frontal_vertices=frontalize(vertices, pose), pose=pose, texture=texture,
        texture_visibility=visible, depth_map=depth, image_path=path,
        extras={"lips_welded": welded},
    )
