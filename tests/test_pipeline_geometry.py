"""Each geometric step of the pipeline, proved on a ground truth built from the BFM mean face.

The mean face is posed with a known rotation in a photo-sized frame, rasterised
into a position map in the crop frame (training.groundtruth, with the engine's
own rasteriser), and decoded by the engine exactly as a network prediction would be.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.crop import crop_to_image, landmark_box
from engine.decode import decode_position_map
from engine.pose import euler_to_rotation
from engine.render import interpolate, rasterize

WIDTH, HEIGHT = 640, 480
POSES = [(0.0, 0.0, 0.0), (30.0, 10.0, -15.0), (-45.0, -20.0, 10.0)]


def posed_mean_face(bfm, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """BFM mean face in image pixels (x right, y down, z to camera), ~200 px wide, rotated."""
    mean = np.asarray(bfm.mean, dtype=np.float64)
    image_frame = mean * np.array([1.0, -1.0, 1.0])
    centred = image_frame - image_frame.mean(0)
    scale = 200.0 / np.ptp(centred[:, 0])
    rotated = (scale * centred) @ euler_to_rotation(yaw, pitch, roll).T
    return rotated + np.array([WIDTH / 2 + 17.3, HEIGHT / 2 - 9.1, 0.0])


def ground_truth(bfm, pose):
    from training.groundtruth import position_map_from_vertices

    vertices = posed_mean_face(bfm, *pose)
    landmarks = vertices[bfm.landmark_ids]
    crop_map, matrix = position_map_from_vertices(vertices, bfm, bbox=landmark_box(landmarks))
    return vertices, landmarks, crop_map, matrix


@pytest.mark.parametrize("pose", POSES)
def test_landmarks_mesh_and_pose(bfm, layout, pose):
    vertices, landmarks, crop_map, matrix = ground_truth(bfm, pose)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    result = decode_position_map(image, crop_map, matrix, landmark_box(landmarks), layout)

    # The map's z was shifted in the crop frame (min z = 0); compare z up to that offset.
    offset = np.median(result.mesh.vertices[:, 2] - vertices[layout.bfm_vertex_ids, 2])
    shift = np.array([0.0, 0.0, offset])
    landmark_error = np.linalg.norm(result.landmarks - shift - landmarks, axis=1)
    assert landmark_error.max() < 1.0, landmark_error.max()

    vertex_error = np.linalg.norm(result.mesh.vertices - shift - vertices[layout.bfm_vertex_ids], axis=1)
    assert np.percentile(vertex_error, 99) < 0.5, np.percentile(vertex_error, 99)
    assert vertex_error.mean() < 0.1

    # Pose relative to the frontal mean face (PRNet's canonical face is a slightly
    # different mean face, so the frontal pose's own rotation is factored out).
    _, _, frontal_map, frontal_matrix = ground_truth(bfm, (0.0, 0.0, 0.0))
    frontal = decode_position_map(image, frontal_map, frontal_matrix,
                                  landmark_box(posed_mean_face(bfm, 0, 0, 0)[bfm.landmark_ids]), layout)
    relative = result.pose.rotation @ frontal.pose.rotation.T
    expected = euler_to_rotation(*pose)
    angle = np.degrees(np.arccos(np.clip((np.trace(relative.T @ expected) - 1) / 2, -1, 1)))
    assert angle < 1.0, angle


def test_canonical_face_is_frontal(bfm, layout):
    """The pose of the frontal mean face itself is within a few degrees of zero."""
    _, landmarks, crop_map, matrix = ground_truth(bfm, (0.0, 0.0, 0.0))
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    result = decode_position_map(image, crop_map, matrix, landmark_box(landmarks), layout)
    assert abs(result.pose.yaw) < 3 and abs(result.pose.roll) < 3 and abs(result.pose.pitch) < 10


def test_texture_remap_returns_a_known_texture(bfm, layout):
    """Paint the face with a known UV texture, render it, and read the texture back."""
    pose = (20.0, 5.0, 0.0)
    vertices, landmarks, crop_map, matrix = ground_truth(bfm, pose)
    uu, vv = np.meshgrid(np.linspace(0, 1, 256), np.linspace(1, 0, 256))
    known = np.stack([uu * 255, vv * 255, 128 + 100 * np.sin(uu * 12) * np.cos(vv * 9)], axis=-1)
    known = np.clip(known, 0, 255).astype(np.float64)
    # Colour of each mesh vertex = the known texture at its UV (smooth, so bilinear is exact enough).
    ids = layout.bfm_vertex_ids
    rows = np.clip(np.rint(layout.bfm_map_pixels[:, 1]).astype(int), 0, 255)
    cols = np.clip(np.rint(layout.bfm_map_pixels[:, 0]).astype(int), 0, 255)
    colours = known[rows, cols]
    image_vertices = vertices[ids]
    from engine.decode import mesh_topology

    _, triangles, _ = mesh_topology(layout, "bfm")
    raster = rasterize(image_vertices, triangles, HEIGHT, WIDTH)
    image = np.clip(interpolate(raster, colours), 0, 255).astype(np.uint8)

    result = decode_position_map(image, crop_map, matrix, landmark_box(landmarks), layout)
    seen = result.texture_visibility & layout.face_mask
    # Away from the face outline (where bilinear sampling mixes in background).
    from scipy.ndimage import binary_erosion

    inner = binary_erosion(seen, iterations=3)
    assert inner.sum() > 0.4 * layout.face_mask.sum()
    error = np.abs(result.texture[inner].astype(float) - known[inner]).mean()
    assert error < 4.0, error
    # Texels turned away from the camera are reported hidden.
    assert seen.sum() < layout.face_mask.sum()


def test_crop_round_trip():
    matrix = np.array([[0.8, 0.0, -30.0], [0.0, 0.8, 12.0], [0.0, 0.0, 1.0]])
    points = np.random.default_rng(0).uniform(0, 256, size=(50, 3))
    from engine.crop import image_to_crop

    assert np.allclose(image_to_crop(crop_to_image(points, matrix), matrix), points)


def test_closed_lips_are_welded_and_open_ones_kept(bfm, layout):
    """The mesh's mouth slit closes when the predicted inner lips touch, and only then."""
    from engine.lips import lip_gap, mouth_slit, weld_closed_lips

    mean = bfm.vertices(np.zeros(bfm.num_shape), np.zeros(bfm.num_expression))
    vertices, landmarks = mean[layout.bfm_vertex_ids], mean[bfm.landmark_ids]
    slit = mouth_slit(layout)
    assert len(slit.upper) > 10 and len(slit.lower) > 10
    assert not set(slit.upper[1:-1]) & set(slit.lower[1:-1])
    assert vertices[slit.upper, 1].mean() > vertices[slit.lower, 1].mean()  # y up: upper lip above
    welded, done = weld_closed_lips(vertices, landmarks, layout)
    assert done and lip_gap(landmarks) < 0.08
    width = np.linalg.norm(landmarks[48] - landmarks[54])
    middle_upper = slit.upper[len(slit.upper) // 2]
    nearest_lower = np.min(np.linalg.norm(welded[slit.lower] - welded[middle_upper], axis=1))
    assert nearest_lower < 0.01 * width < np.min(
        np.linalg.norm(vertices[slit.lower] - vertices[middle_upper], axis=1))
    others = np.setdiff1d(np.arange(len(vertices)), np.r_[slit.upper, slit.lower])
    assert np.array_equal(welded[others], vertices[others])
    opened = landmarks.copy()
    opened[[65, 66, 67], 1] -= 0.3 * width                     # drop the lower inner lip
    kept, done = weld_closed_lips(vertices, opened, layout)
    assert not done and kept is vertices
