"""Head pose from the dense face points.

The reference is PRNet's ``canonical_vertices`` (the mean face, frontal, in the
image frame: x right, y down, z towards the camera). A least-squares similarity
(Umeyama) takes it onto the predicted points; its rotation is decomposed as
``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``.
"""

from __future__ import annotations

import numpy as np

from .result import HeadPose


def fit_similarity(source: np.ndarray, target: np.ndarray,
                   with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares ``target ~ scale * R @ source + t`` (Umeyama 1991). Returns (scale, R, t).

    ``with_scale=False`` fits a rigid motion (scale 1).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mu_s, mu_t = source.mean(0), target.mean(0)
    src, tgt = source - mu_s, target - mu_t
    covariance = tgt.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    rotation = u @ sign @ vt
    variance = (src ** 2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if with_scale and variance > 0 else 1.0
    translation = mu_t - scale * rotation @ mu_s
    return scale, rotation, translation


def rotation_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    r = np.asarray(rotation)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    if abs(r[2, 0]) < 1 - 1e-9:
        pitch = np.arctan2(r[2, 1], r[2, 2])
        roll = np.arctan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: fold roll into pitch
        pitch = np.arctan2(-r[1, 2], r[1, 1])
        roll = 0.0
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def euler_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of :func:`rotation_to_euler` (degrees)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def estimate_pose(points: np.ndarray, canonical: np.ndarray) -> HeadPose:
    """Pose of dense face points relative to the canonical mean face (same point order)."""
    scale, rotation, translation = fit_similarity(canonical, points)
    yaw, pitch, roll = rotation_to_euler(rotation)
    return HeadPose(rotation=rotation, yaw=yaw, pitch=pitch, roll=roll, scale=scale,
                    translation=translation)


def frontalize(vertices: np.ndarray, pose: HeadPose) -> np.ndarray:
    """Remove the head rotation, keeping the face's size and centre in the image frame."""
    centre = vertices.mean(0)
    return (vertices - centre) @ pose.rotation + centre
