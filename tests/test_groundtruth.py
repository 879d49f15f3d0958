"""Ground-truth position maps from posed BFM meshes (and from 300W-LP-style fits)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy.spatial import cKDTree

from engine.crop import crop_matrix, image_to_crop, landmark_box
from engine.uv_layout import sample_bilinear, uv_to_map_pixels
from training.groundtruth import (crop_groundtruth, folded_uv_vertices, mouth_strip_triangles,
                                  position_map_from_vertices, sample_from_300wlp, uv_gather_for)
from training.morphable_model import (ModelFileError, load_300wlp_fit,
                                      pose_vertices)


def _posed(bfm, seed=0, yaw=0.5, pitch=0.2, roll=0.1, height=500):
    rng = np.random.default_rng(seed)
    vertices = bfm.vertices(bfm.shape_mean + rng.normal(size=40) * bfm.shape_std,
                            bfm.exp_mean + rng.normal(size=10) * bfm.exp_std)
    return pose_vertices(vertices, [pitch, yaw, roll, 230.0, 260.0, 0.0, 0.0012], height)


def test_uv_raster_covers_the_face_region(bfm, layout):
    gather = uv_gather_for(bfm)
    covered = np.zeros(256 * 256, bool)
    covered[gather.flat] = True
    assert covered[layout.face_indices].all()  # the mouth slit is closed by the strip
    strip = mouth_strip_triangles(bfm.mean, bfm.triangles, bfm.landmark_ids[60:68])
    assert 50 < len(strip) < 200


@pytest.mark.parametrize("yaw", [0.0, 0.6, -1.2])
def test_position_map_round_trip(bfm, layout, yaw):
    image_vertices = _posed(bfm, yaw=yaw)
    gt = crop_groundtruth(image_vertices, bfm)
    posmap = gt.position_map
    assert posmap.shape == (256, 256, 3) and posmap.dtype == np.float32
    # Crop: the landmark box, z scaled like x and shifted to 0 on the face region.
    matrix = crop_matrix(landmark_box(image_vertices[bfm.landmark_ids, :2]))
    np.testing.assert_allclose(gt.crop_matrix, matrix)
    expected = image_to_crop(image_vertices, matrix) - [0, 0, gt.z_shift]
    np.testing.assert_allclose(gt.vertices, expected, atol=1e-6)
    assert posmap.reshape(-1, 3)[layout.face_indices, 2].min() == pytest.approx(0.0, abs=1e-4)

    # Sampling the map back at the no-neck vertices' UVs returns the vertices.
    ids = layout.bfm_vertex_ids
    pixels = uv_to_map_pixels(bfm.uvs[ids])
    error = np.linalg.norm(sample_bilinear(posmap, pixels) - gt.vertices[ids], axis=1)
    rows = np.clip(np.round(pixels[:, 1]).astype(int), 0, 255)
    cols = np.clip(np.round(pixels[:, 0]).astype(int), 0, 255)
    on_face = layout.face_mask[rows, cols]
    # BFM_UV.mat folds 10 triangles over (inner eye corners, a mouth corner): no map can hold
    # those vertices; leave out 2 UV pixels around them.
    folded = uv_to_map_pixels(bfm.uvs[folded_uv_vertices(bfm.uvs, bfm.triangles)])
    near_fold = cKDTree(folded).query(pixels)[0] < 2.0
    checked = error[on_face & ~near_fold]
    assert checked.size > 36000
    assert np.median(checked) < 0.05
    assert np.mean(checked < 0.5) > 0.995, np.sort(checked)[-20:]
    assert checked.max() < 1.5


def test_landmarks_agree_with_the_map(bfm, layout):
    gt = crop_groundtruth(_posed(bfm, seed=3, yaw=-0.3), bfm)
    exact = sample_bilinear(gt.position_map, layout.landmark_map_pixels)
    assert np.abs(exact - gt.landmarks).max() < 1.0
    kp = layout.keypoint_pixels
    at_pixels = gt.position_map[kp[:, 1], kp[:, 0]]
    assert np.linalg.norm(at_pixels[:, :2] - gt.landmarks[:, :2], axis=1).mean() < 1.0


def test_noneck_vertices_give_the_same_xy(bfm, layout):
    image_vertices = _posed(bfm, seed=1)
    full, matrix_full = position_map_from_vertices(image_vertices, bfm)
    noneck, matrix_noneck = position_map_from_vertices(image_vertices[layout.bfm_vertex_ids])
    np.testing.assert_allclose(matrix_full, matrix_noneck)
    both = noneck.reshape(-1, 3)[layout.face_indices]
    ref = full.reshape(-1, 3)[layout.face_indices]
    covered = np.abs(both).sum(axis=1) > 0
    assert covered.mean() > 0.95
    np.testing.assert_allclose(both[covered, :2], ref[covered, :2], atol=1e-3)
    dz = both[covered, 2] - ref[covered, 2]
    assert np.ptp(dz) < 1e-3  # z differs only by the shift (the no-neck mesh covers less)


def test_explicit_bbox_is_used(bfm):
    image_vertices = _posed(bfm)
    box = (100.0, 120.0, 300.0, 330.0)
    _, matrix = position_map_from_vertices(image_vertices, bfm, bbox=box)
    np.testing.assert_allclose(matrix, crop_matrix(box))


def test_sample_from_300wlp(bfm, tmp_path):
    height, width = 450, 450
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    image_path = tmp_path / "IBUG_image_003_1_0.jpg"
    Image.fromarray(image).save(image_path)
    mat_path = tmp_path / "IBUG_image_003_1_0.mat"
    rng = np.random.default_rng(2)
    pose = np.array([0.15, -0.5, 0.05, 225.0, 215.0, 30.0, 0.0011])
    scipy.io.savemat(mat_path, {"Shape_Para": rng.normal(0, 1e5, (199, 1)),
                                "Exp_Para": rng.normal(0, 0.5, (29, 1)), "Pose_Para": pose[None]})
    sample = sample_from_300wlp(image_path, mat_path, bfm)
    assert sample.image.shape == (256, 256, 3) and sample.image.dtype == np.uint8
    assert sample.position_map.shape == (256, 256, 3) and sample.landmarks.shape == (68, 3)
    # The landmarks are the posed landmark vertices, carried through the landmark-box crop.
    fit = load_300wlp_fit(mat_path)
    posed = pose_vertices(bfm.vertices(fit.shape_para, fit.exp_para, truncate=True), fit.pose_para, height)
    landmarks = posed[bfm.landmark_ids]
    matrix = crop_matrix(landmark_box(landmarks))
    np.testing.assert_allclose(sample.landmarks[:, :2], image_to_crop(landmarks, matrix)[:, :2], atol=1e-3)
    xy = sample.landmarks[:, :2]
    assert xy.min() > 0 and xy.max() < 255  # the 1.6x box keeps them inside the crop
    assert sample.params["yaw"] == pytest.approx(np.degrees(-0.5))
    with pytest.raises(ModelFileError, match="missing.mat"):
        sample_from_300wlp(image_path, tmp_path / "missing.mat", bfm)
