"""Turn a ReconstructionResult into Blender-ready arrays (numpy only, no bpy side effects).

Frames: the engine works in image pixels (x right, y down, z towards the camera).
Blender's front view looks along +Y at a face that faces -Y, with Z up, so

    Blender X =  x,   Blender Y = -z,   Blender Z = -y

This is a reflection of a left-handed frame, so the face is not mirrored and the
engine's counter-clockwise-from-the-camera winding stays counter-clockwise from
Blender's front view (normals point to -Y).

Scale: the engine's head pose fits PRNet's canonical mean face to the predicted
points (``pose.scale`` = image pixels per canonical unit), using all 43,867 face
points, so it is steady under head turns and expressions. In the canonical face
the outer eye corners (iBUG 36 and 45) are 102.46 units apart; giving them the
adult average of 88 mm fixes metres per canonical unit, hence metres per pixel.
The face mesh is then ~0.18 m wide, ear to ear. A degenerate prediction (scale 0,
e.g. untrained weights) falls back to the face box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .landmarks import EYES

CANONICAL_OUTER_EYE_UNITS = 102.46
OUTER_EYE_METRES = 0.088
METRES_PER_CANONICAL_UNIT = OUTER_EYE_METRES / CANONICAL_OUTER_EYE_UNITS
# Fallback: a detected face box spans about brow to chin, ~0.16 m on an adult.
FACE_BOX_METRES = 0.16
IMAGE_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                             [0.0, 0.0, -1.0],
                             [0.0, -1.0, 0.0]])
POSE_MODES = ("ORIGINAL", "FRONTAL")


@dataclass
class FaceGeometry:
    """One face, ready for bpy: metres, Blender axes, relative to the origin (between the eyes)."""

    vertices: np.ndarray          # (N, 3) float32
    triangles: np.ndarray         # (M, 3) int32
    loop_uvs: np.ndarray          # (3M, 2) float32, one UV per triangle corner
    colors: np.ndarray            # (N, 4) float32 RGBA
    landmarks: np.ndarray         # (68, 3) float64
    texture_pixels: np.ndarray    # (T*T*4,) float32 RGBA, bottom row first (Blender's order)
    texture_size: int
    metres_per_pixel: float
    landmark_vertices: np.ndarray  # (68,) the vertex each landmark sits on
    info: dict = field(default_factory=dict)
    shape_keys: dict = field(default_factory=dict)  # key name -> (N, 3) offsets (expression_keys)


def image_to_blender(points: np.ndarray) -> np.ndarray:
    """(..., 3) image-frame points -> Blender axes (same units)."""
    return np.asarray(points, dtype=np.float64) @ IMAGE_TO_BLENDER.T


def metres_per_pixel(result) -> float:
    """Real-world size of one image pixel at the face (see the module docstring)."""
    scale = float(getattr(result.pose, "scale", 0.0) or 0.0)
    if np.isfinite(scale) and scale > 1e-6:
        return METRES_PER_CANONICAL_UNIT / scale
    x0, y0, x1, y1 = result.bbox
    side = max(float(x1 - x0), float(y1 - y0), 1e-6)
    return FACE_BOX_METRES / side


def frontal_points(points: np.ndarray, vertices: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Remove the head rotation about the mesh centre, as the engine's frontal vertices do."""
    centre = vertices.mean(0)
    return (np.asarray(points, dtype=np.float64) - centre) @ np.asarray(rotation) + centre


def texture_to_blender_pixels(texture: np.ndarray) -> np.ndarray:
    """(T, T, 3) uint8, row 0 = top -> flat float32 RGBA with the bottom row first."""
    texture = np.asarray(texture)
    height, width = texture.shape[:2]
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = texture[::-1, :, :3].astype(np.float32) * (1.0 / 255.0)
    return rgba.ravel()


def build_face_geometry(result, pose_mode: str = "ORIGINAL") -> FaceGeometry:
    """Everything the Blender side needs from one reconstruction."""
    if pose_mode not in POSE_MODES:
        raise ValueError(f"pose mode {pose_mode!r} is not one of {POSE_MODES}")
    mesh = result.mesh
    vertices_px = np.asarray(mesh.vertices, dtype=np.float64)
    landmarks_px = np.asarray(result.landmarks, dtype=np.float64)
    if pose_mode == "FRONTAL":
        rotation = np.asarray(result.pose.rotation, dtype=np.float64)
        landmarks_px = frontal_points(landmarks_px, vertices_px, rotation)
        vertices_px = np.asarray(result.frontal_vertices, dtype=np.float64)

    scale = metres_per_pixel(result)
    origin_px = landmarks_px[list(EYES)].mean(0)
    vertices = image_to_blender((vertices_px - origin_px) * scale)
    landmarks = image_to_blender((landmarks_px - origin_px) * scale)

    triangles = np.asarray(mesh.triangles, dtype=np.int32)
    uvs = np.asarray(mesh.uvs, dtype=np.float32)
    colors = np.ones((len(vertices), 4), dtype=np.float32)
    colors[:, :3] = np.clip(np.asarray(mesh.colors, dtype=np.float32), 0.0, 1.0)
    texture = np.asarray(result.texture)
    pose = result.pose
    info = {
        "topology": mesh.topology,
        "pose_mode": pose_mode,
        "yaw": float(pose.yaw), "pitch": float(pose.pitch), "roll": float(pose.roll),
        "bbox": [float(v) for v in result.bbox],
        "image_size": [int(v) for v in result.image_size],
    }
    return FaceGeometry(
        vertices=np.ascontiguousarray(vertices, dtype=np.float32),
        triangles=np.ascontiguousarray(triangles),
        loop_uvs=np.ascontiguousarray(uvs[triangles.ravel()]),
        colors=colors,
        landmarks=landmarks,
        texture_pixels=texture_to_blender_pixels(texture),
        texture_size=int(texture.shape[0]),
        metres_per_pixel=scale,
        landmark_vertices=nearest_vertices(vertices, landmarks),
        info=info,
    )


def nearest_vertices(vertices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the closest vertex to each point.

    For the BFM topology each landmark *is* a mesh vertex (read at the same UV), so
    this finds that vertex exactly, on the right side of the closed-looking mouth slit.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    # |v - p|^2 = |v|^2 - 2 v.p + |p|^2; |p|^2 is the same for every vertex, so it is left out.
    scores = (vertices * vertices).sum(1)[None, :] - 2.0 * points @ vertices.T
    return scores.argmin(axis=1).astype(np.int64)

