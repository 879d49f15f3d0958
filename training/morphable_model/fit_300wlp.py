"""300W-LP / AFLW2000-3D fits: their 3DMM coefficients and pose, and posing a mesh with them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.landmarks import NUM_LANDMARKS
from engine.pose import euler_to_rotation

from .model_files import ModelFileError, load_mat


@dataclass(frozen=True)
class Fit300WLP:
    """One 300W-LP / AFLW2000-3D fit: 3DMM coefficients and pose (see :func:`pose_vertices`)."""

    shape_para: np.ndarray          # (199,) or (40,)
    exp_para: np.ndarray            # (29,) or (10,)
    pose_para: np.ndarray           # (7,) pitch, yaw, roll (radians), tx, ty, tz, scale
    pt2d: np.ndarray | None = None  # (2, K) annotated 2D points if present
    pt3d_68: np.ndarray | None = None  # (3, 68) AFLW2000-3D landmarks if present
    path: str = ""

    @property
    def angles_degrees(self) -> tuple[float, float, float]:
        """(pitch, yaw, roll) in degrees, in the file's own sign convention."""
        pitch, yaw, roll = np.degrees(self.pose_para[:3])
        return float(pitch), float(yaw), float(roll)


def load_300wlp_fit(mat_path: str | os.PathLike) -> Fit300WLP:
    """Read ``Shape_Para``, ``Exp_Para``, ``Pose_Para`` (+ ``pt2d``, ``pt3d_68``) from a 300W-LP
    or AFLW2000-3D ``.mat``; raises :class:`ModelFileError` naming the file otherwise."""
    path = Path(mat_path)
    data = load_mat(path, "300W-LP fit")
    out = {}
    for key, sizes in (("Shape_Para", (199, 40)), ("Exp_Para", (29, 10)), ("Pose_Para", (7,))):
        if key not in data:
            raise ModelFileError(f"'{path}' has no '{key}': not a 300W-LP/AFLW2000-3D fit file")
        value = np.asarray(data[key], np.float64).ravel()
        if value.size not in sizes:
            raise ModelFileError(f"'{path}': {key} has {value.size} values, expected "
                                 f"{' or '.join(map(str, sizes))}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"'{path}': {key} contains NaN or infinite values")
        out[key] = value
    pt2d = np.asarray(data["pt2d"], np.float64) if "pt2d" in data else None
    pt3d = np.asarray(data["pt3d_68"], np.float64) if "pt3d_68" in data else None
    if pt3d is not None and pt3d.shape != (3, NUM_LANDMARKS):
        pt3d = pt3d.T if pt3d.shape == (NUM_LANDMARKS, 3) else None
    return Fit300WLP(out["Shape_Para"], out["Exp_Para"], out["Pose_Para"], pt2d, pt3d, str(path))


def rotation_300wlp(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """3DDFA's rotation for 300W-LP angles (radians): R = Rx(pitch) @ Ry(yaw) @ Rz(roll) with
    Rx = [[1,0,0],[0,c,s],[0,-s,c]], Ry = [[c,0,-s],[0,1,0],[s,0,c]], Rz = [[c,s,0],[-s,c,0],[0,0,1]]
    (each the transpose of the usual right-handed rotation): the transpose of the engine's
    yaw/pitch/roll rotation."""
    return euler_to_rotation(*np.degrees([yaw, pitch, roll])).T


def pose_from_300wlp(pitch: float, yaw: float, roll: float) -> tuple[float, float, float]:
    """300W-LP / AFLW2000-3D ``Pose_Para`` angles (radians) -> the engine's (yaw, pitch, roll).

    In the image frame (y down) the 300W-LP rotation is F @ R @ F with F = diag(1, -1, 1)
    and R = :func:`rotation_300wlp`, i.e. Rx(pitch) @ Ry(-yaw) @ Rz(roll) with the usual
    right-handed matrices; it is decomposed in the engine's order
    (``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, :func:`engine.pose.rotation_to_euler`). For small
    angles that is (-yaw, pitch, roll); in general the angles mix.
    """
    from engine.pose import rotation_to_euler

    flip = np.diag([1.0, -1.0, 1.0])
    return rotation_to_euler(flip @ rotation_300wlp(pitch, yaw, roll) @ flip)


def pose_vertices(vertices: np.ndarray, pose_para: np.ndarray, image_height: int,
                  convention: str = "face3d") -> np.ndarray:
    """Model vertices (N, 3, BFM units, y up) -> image pixels with 300W-LP's pose.

    The 300W-LP convention (3DDFA's fitting, orthographic camera):
        p = scale * R @ v + (tx, ty, tz),  R = :func:`rotation_300wlp` (pitch, yaw, roll)
    which gives a y-up frame in pixels; the image frame flips y:
        convention "face3d" (PRNet's 300W-LP generation, face3d): x_img = p_x,
            y_img = image_height - p_y - 1;
        convention "3ddfa" (3DDFA's Python code, MATLAB 1-based origin moved to 0):
            x_img = p_x - 1, y_img = image_height - p_y.
    z stays as is (larger = nearer the camera), so the result is in the engine's image
    frame: x right, y down, z towards the camera, all in pixels.
    """
    pose = np.asarray(pose_para, np.float64).ravel()
    if pose.size != 7:
        raise ValueError(f"pose_para must have 7 values (pitch, yaw, roll, tx, ty, tz, scale), "
                         f"got {pose.size}")
    rotation = rotation_300wlp(*pose[:3])
    posed = pose[6] * np.asarray(vertices, np.float64) @ rotation.T + pose[3:6]
    if convention == "face3d":
        posed[:, 1] = image_height - posed[:, 1] - 1
    elif convention == "3ddfa":
        posed[:, 0] -= 1
        posed[:, 1] = image_height - posed[:, 1]
    else:
        raise ValueError(f"convention must be 'face3d' or '3ddfa', got {convention!r}")
    return posed
