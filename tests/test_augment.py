"""Joint image / position-map augmentation: the map must follow the image geometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.uv_layout import load_uv_layout
from training.augment import (AugmentConfig, augment, random_similarity, similarity_matrix,
                              transform_positions)

GEOMETRY_ONLY = AugmentConfig(colour_min=1.0, colour_max=1.0, occlusion_prob=0.0)


@pytest.fixture(scope="module")
def face_map() -> np.ndarray:
    """The mean face placed in the middle of the crop, as a (256, 256, 3) position map."""
    layout = load_uv_layout()
    points = layout.canonical_vertices - layout.canonical_vertices.mean(axis=0)
    points = points * 0.55 + np.array([128.0, 128.0, 40.0])
    flat = np.zeros((256 * 256, 3), dtype=np.float32)
    flat[layout.face_indices] = points
    return flat.reshape(256, 256, 3)


def _blob_image(x: float, y: float, sigma: float = 2.0) -> np.ndarray:
    cols, rows = np.meshgrid(np.arange(256), np.arange(256))
    blob = np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma ** 2))
    return np.repeat((blob * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)


def _centroid(image: np.ndarray) -> np.ndarray:
    weights = image[:, :, 0].astype(np.float64)
    weights[weights < 20] = 0  # ignore the faint tails cut by the border
    rows, cols = np.nonzero(weights)
    w = weights[rows, cols]
    return np.array([(cols * w).sum() / w.sum(), (rows * w).sum() / w.sum()])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_landmark_drawn_on_the_image_moves_where_the_map_says(face_map, seed):
    layout = load_uv_layout()
    for landmark in (8, 30, 36, 45, 48, 54):  # chin, nose, eye corners, mouth corners
        col, row = layout.keypoint_pixels[landmark]
        x, y = face_map[row, col, :2]
        image = _blob_image(x, y)
        out_image, out_map = augment(image, face_map, np.random.default_rng(seed), GEOMETRY_ONLY)
        expected = out_map[row, col, :2]
        assert np.linalg.norm(_centroid(out_image) - expected) < 0.35, (seed, landmark)
        # ... and the augmentation really moved it
        assert np.linalg.norm(expected - np.array([x, y])) > 1.0


def test_z_is_scaled_with_the_image(face_map):
    for seed in range(5):
        matrix, scale = random_similarity(np.random.default_rng(seed), AugmentConfig())
        _, out_map = augment(np.zeros((256, 256, 3), np.uint8), face_map,
                             np.random.default_rng(seed), GEOMETRY_ONLY)
        np.testing.assert_allclose(out_map, transform_positions(face_map, matrix), atol=1e-3)
        np.testing.assert_allclose(out_map[..., 2], face_map[..., 2] * scale, rtol=1e-5, atol=1e-4)
        # z stays towards the camera: the nose tip is still the closest landmark
        layout = load_uv_layout()
        z = out_map.reshape(-1, 3)[layout.keypoint_flat, 2]
        assert np.argmax(z) in (30, 31, 32, 33, 34, 35)


def test_random_ranges_match_the_paper():
    config = AugmentConfig()
    rng = np.random.default_rng(0)
    angles, scales, shifts = [], [], []
    for _ in range(2000):
        matrix, scale = random_similarity(rng, config)
        angles.append(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
        scales.append(scale)
        centre = matrix[:2, :2] @ np.array([127.5, 127.5]) + matrix[:2, 2]
        shifts.append(centre - 127.5)
    angles, scales, shifts = np.array(angles), np.array(scales), np.array(shifts)
    assert -45 <= angles.min() < -40 and 40 < angles.max() <= 45
    assert 0.9 <= scales.min() < 0.92 and 1.18 < scales.max() <= 1.2
    assert np.abs(shifts).max() <= 25.6 + 1e-9 and np.abs(shifts).max() > 24


def test_similarity_matrix_keeps_the_centre():
    matrix = similarity_matrix(30.0, 1.1, (0.0, 0.0))
    np.testing.assert_allclose(matrix[:2, :2] @ [127.5, 127.5] + matrix[:2, 2], [127.5, 127.5])


def test_colour_scaling_is_per_channel_and_in_range(face_map):
    config = AugmentConfig(rotation_deg=0, translation=0, scale_min=1, scale_max=1, occlusion_prob=0)
    image = np.full((256, 256, 3), 100, np.uint8)
    seen = []
    for seed in range(50):
        out, _ = augment(image, face_map, np.random.default_rng(seed), config)
        channels = out[128, 128].astype(int)
        assert np.all(out == channels)  # one factor per channel, the same everywhere
        assert np.all((channels >= 60) & (channels <= 140))
        seen.append(channels)
    seen = np.array(seen)
    assert (seen[:, 0] != seen[:, 1]).any() and seen.min() < 70 and seen.max() > 130


def test_occlusion_changes_the_image_but_not_the_map(face_map):
    image = np.full((256, 256, 3), 128, np.uint8)
    on = dataclasses.replace(GEOMETRY_ONLY, occlusion_prob=1.0, rotation_deg=0, translation=0,
                             scale_min=1, scale_max=1)
    off = dataclasses.replace(on, occlusion_prob=0.0)
    occluded, map_on = augment(image, face_map, np.random.default_rng(5), on)
    clean, map_off = augment(image, face_map, np.random.default_rng(5), off)
    np.testing.assert_array_equal(map_on, map_off)
    changed = (occluded != clean).any(axis=2)
    assert 0.005 < changed.mean() < 0.5


def test_seeded_and_disabled(face_map):
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    a = augment(image, face_map, np.random.default_rng(9))
    b = augment(image, face_map, np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], image)
    same_image, same_map = augment(image, face_map, np.random.default_rng(9),
                                   AugmentConfig(enabled=False))
    assert np.array_equal(same_image, image) and np.array_equal(same_map, face_map)
    with pytest.raises(ValueError):
        AugmentConfig.from_dict({"rotation": 10})


def test_greyscale_and_low_resolution_are_off_by_default_and_keep_old_streams(face_map):
    image = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    small_map = face_map[::2, ::2] / 2
    explicit_off = AugmentConfig(greyscale_prob=0.0, low_res_prob=0.0)
    a = augment(image, small_map, np.random.default_rng(4))
    b = augment(image, small_map, np.random.default_rng(4), explicit_off)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    grey_config = dataclasses.replace(GEOMETRY_ONLY, greyscale_prob=1.0)
    grey, grey_map = augment(image, small_map, np.random.default_rng(4), grey_config)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    colour, colour_map = augment(image, small_map, np.random.default_rng(4), GEOMETRY_ONLY)
    assert not np.array_equal(colour[..., 0], colour[..., 1])
    np.testing.assert_array_equal(grey_map, colour_map)  # the surface does not change


def test_low_resolution_blurs_but_keeps_the_mean(face_map):
    image = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    config = dataclasses.replace(GEOMETRY_ONLY, rotation_deg=0, translation=0, scale_min=1,
                                 scale_max=1, low_res_prob=1.0, low_res_min=0.25)
    out, _ = augment(image, face_map[::2, ::2] / 2, np.random.default_rng(3), config)
    assert out.shape == image.shape and out.dtype == np.uint8
    detail = lambda x: np.abs(np.diff(x.astype(float), axis=1)).mean()
    assert detail(out) < 0.8 * detail(image)  # high frequencies are gone
    assert abs(out.astype(float).mean() - image.astype(float).mean()) < 3


def test_new_chances_are_checked():
    with pytest.raises(ValueError):
        AugmentConfig.from_dict({"greyscale_prob": 1.5})
    with pytest.raises(ValueError):
        AugmentConfig.from_dict({"low_res_min": 0.0})
