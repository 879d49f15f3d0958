"""The typed result of one face reconstruction.

Coordinates are in the input image's pixel frame: x right, y down, z towards the
camera on x's scale (so the face is a right-side-up relief whose nose has the
largest z). Use :meth:`ReconstructionResult.to_world` for a y-up frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class HeadPose:
    """Head pose from the dense points: ``points ~ scale * R @ canonical + translation``."""

    rotation: np.ndarray          # (3, 3), image frame (x right, y down, z to camera)
    yaw: float                    # degrees, positive: the face turns to the image's right
    pitch: float                  # degrees, positive: the face looks up
    roll: float                   # degrees, positive: the face tilts clockwise in the image
    scale: float                  # image pixels per canonical unit
    translation: np.ndarray       # (3,)

    def to_dict(self) -> dict:
        return {"rotation": self.rotation.tolist(), "yaw": self.yaw, "pitch": self.pitch,
                "roll": self.roll, "scale": self.scale, "translation": self.translation.tolist()}


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh with per-vertex UVs (in [0, 1], v up) and colours (RGB in [0, 1])."""

    vertices: np.ndarray          # (N, 3) float
    triangles: np.ndarray         # (M, 3) int, counter-clockwise seen from the camera
    uvs: np.ndarray               # (N, 2) float
    colors: np.ndarray            # (N, 3) float
    topology: str                 # "bfm" or "grid"


@dataclass(frozen=True)
class ExpressionShapes:
    """ICT-FaceKit's expressions on a face's mesh (see :mod:`engine.expressions`)."""

    names: tuple[str, ...]        # ICT's ARKit-style names ("eyeBlink_L": the subject's left eye)
    deltas: np.ndarray            # (57, N, 3) float16 displacements, same frame and units as the mesh


@dataclass(frozen=True)
class ReconstructionResult:
    """Everything read from one face's position map."""

    image_size: tuple[int, int]   # (width, height) of the input image
    bbox: tuple[float, float, float, float]  # face box (x0, y0, x1, y1) in input pixels
    crop_matrix: np.ndarray       # (3, 3) input pixels -> 256x256 crop pixels
    position_map: np.ndarray      # (256, 256, 3) float32, in input-image pixels (x, y, z)
    dense_points: np.ndarray      # (43867, 3) the face points of the map
    landmarks: np.ndarray         # (68, 3) iBUG 68 landmarks
    mesh: Mesh                    # BFM topology (38,365 / 76,073) or the UV grid mesh
    frontal_vertices: np.ndarray  # (N, 3) mesh vertices with the head pose removed
    pose: HeadPose
    texture: np.ndarray           # (T, T, 3) uint8 UV texture sampled from the photo
    texture_visibility: np.ndarray  # (T, T) bool: texels seen by the camera (not self-occluded, not grazing)
    depth_map: np.ndarray         # (H, W) float32 z of the face surface, NaN off the face
    image_path: str | None = None
    extras: dict = field(default_factory=dict)
    expressions: ExpressionShapes | None = None  # on request: engine.expressions.with_expressions

    def to_world(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Mesh vertices in a right-handed y-up frame (x right, y up, z to the camera)."""
        points = self.mesh.vertices if vertices is None else vertices
        return points * np.array([1.0, -1.0, 1.0])
