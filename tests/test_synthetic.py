"""The synthetic face generator: determinism, ground-truth consistency, sane images."""

from __future__ import annotations

import numpy as np
import pytest

from engine.pose import estimate_pose
from engine.uv_layout import sample_bilinear
from training.synthetic import (Sample, SyntheticConfig, contact_sheet, generate_batch,
                                generate_sample)


def test_sample_types_and_determinism():
    a = generate_sample(11)
    b = generate_sample(11)
    c = generate_sample(12)
    assert isinstance(a, Sample)
    assert a.image.shape == (256, 256, 3) and a.image.dtype == np.uint8
    assert a.position_map.shape == (256, 256, 3) and a.position_map.dtype == np.float32
    assert a.landmarks.shape == (68, 3) and a.landmarks.dtype == np.float32
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.position_map, b.position_map)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.params == b.params
    assert not np.array_equal(a.image, c.image)
    for key in ("seed", "yaw", "pitch", "roll", "shape_coeffs", "exp_coeffs", "occluders"):
        assert key in a.params


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_landmarks_match_the_position_map(seed, layout):
    sample = generate_sample(seed)
    kp = layout.keypoint_pixels
    at_pixels = sample.position_map[kp[:, 1], kp[:, 0]]
    xy_error = np.linalg.norm(at_pixels[:, :2] - sample.landmarks[:, :2], axis=1)
    # PRNet's keypoint pixels are the landmark UVs rounded to whole pixels, hence not 0.
    assert xy_error.mean() < 1.0, xy_error
    assert xy_error.max() < 2.5
    exact = sample_bilinear(sample.position_map, layout.landmark_map_pixels)
    assert np.abs(exact - sample.landmarks).max() < 1.0
    # The crop is the landmark box crop: the box is centred and 1/1.6 of the crop.
    xy = sample.landmarks[:, :2]
    side = ((xy[:, 0].max() - xy[:, 0].min()) + (xy[:, 1].max() - xy[:, 1].min())) / 2
    assert side * 1.6 == pytest.approx(255.0, rel=1e-3)
    np.testing.assert_allclose((xy.min(0) + xy.max(0)) / 2, [127.5, 127.5], atol=1e-3)
    assert sample.position_map.reshape(-1, 3)[layout.face_indices, 2].min() == pytest.approx(0, abs=1e-3)


def test_images_are_not_blank():
    for seed in range(4):
        image = generate_sample(seed).image.astype(np.float64)
        assert image.std() > 10
        centre = image[96:160, 96:160]
        assert centre.std() > 3 and 10 < centre.mean() < 245


def test_pose_parameters_follow_the_engine_convention(layout):
    config = SyntheticConfig(yaw_range=(35.0, 35.0), pitch_range=(-10.0, -10.0), roll_range=(5.0, 5.0))
    sample = generate_sample(3, config)
    assert (sample.params["yaw"], sample.params["pitch"], sample.params["roll"]) == (35.0, -10.0, 5.0)
    dense = sample.position_map.reshape(-1, 3)[layout.face_indices]
    pose = estimate_pose(dense, layout.canonical_vertices)
    assert pose.yaw == pytest.approx(35.0, abs=3.0)
    assert pose.roll == pytest.approx(5.0, abs=3.0)
    assert pose.pitch == pytest.approx(-10.0, abs=6.0)  # identity/expression move the fit a little


def test_config_validation_and_options():
    with pytest.raises(ValueError):
        SyntheticConfig(yaw_range=(10.0, -10.0))
    with pytest.raises(ValueError):
        SyntheticConfig(supersample=0)
    clean = SyntheticConfig(occlusion_probability=0.0, blur_probability=0.0, noise_probability=0.0,
                            jpeg_probability=0.0, low_res_probability=0.0, supersample=2,
                            long_hair_probability=0.0)
    sample = generate_sample(5, clean)
    assert sample.params["occluders"] == [] and sample.params["degradations"] == []
    assert sample.params["supersample"] == 2
    jittered = generate_sample(5, SyntheticConfig(box_shift=0.1, box_scale_jitter=0.1))
    xy = jittered.landmarks[:, :2]
    assert not np.allclose((xy.min(0) + xy.max(0)) / 2, [127.5, 127.5], atol=0.5)


def test_batch_with_workers_matches_in_process():
    seeds = [21, 22, 23]
    batch = generate_batch(seeds, workers=2)
    for seed, sample in zip(seeds, batch):
        np.testing.assert_array_equal(sample.image, generate_sample(seed).image)
    sheet = contact_sheet(batch, columns=2)
    assert sheet.shape == (512, 512, 3)


def _lid_gap(landmarks: np.ndarray, upper: list[int], lower: list[int]) -> float:
    """Mean 2D distance of an eye's upper-lid landmarks to its lower-lid ones."""
    return float(np.linalg.norm(landmarks[upper, :2] - landmarks[lower, :2], axis=1).mean())


def test_ict_expressions_close_the_eyes_they_name():
    """With ICT-FaceKit's expressions on, the eyes the params call closed (eyeBlink >= 0.85,
    ARKit's left = the subject's left = iBUG 42-47) are closed in the ground truth, and only the
    expression changes: the same seed without them has the same pose and identity."""
    config = SyntheticConfig(ict_expression_probability=1.0, occlusion_probability=0.0,
                             yaw_range=(-30.0, 30.0))
    left, right = ([43, 44], [47, 46]), ([37, 38], [41, 40])
    closed_eyes = 0
    for seed in range(20, 26):
        with_ict = generate_sample(seed, config)
        plain = generate_sample(seed, SyntheticConfig(occlusion_probability=0.0,
                                                      yaw_range=(-30.0, 30.0)))
        weights = with_ict.params["ict_expressions"]
        assert "ict_expressions" not in plain.params
        assert with_ict.params["yaw"] == plain.params["yaw"]
        assert with_ict.params["shape_coeffs"] == plain.params["shape_coeffs"]
        for name, (upper, lower) in (("eyeBlink_L", left), ("eyeBlink_R", right)):
            if weights.get(name, 0.0) >= 0.85:
                closed_eyes += 1
                assert _lid_gap(with_ict.landmarks, upper, lower) < 0.35 * _lid_gap(
                    plain.landmarks, upper, lower), (seed, name, weights)
            elif name not in weights:  # a wink: the other eye stays as it was
                assert _lid_gap(with_ict.landmarks, upper, lower) == pytest.approx(
                    _lid_gap(plain.landmarks, upper, lower), rel=0.1), (seed, name, weights)
    assert closed_eyes >= 3  # the seeds above hold closed eyes and winks
