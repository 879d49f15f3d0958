"""The shared prediction step: two-pass crop, mirror symmetry of the UV layout, flip averaging."""

from __future__ import annotations

import numpy as np
import torch

from engine.models import CompactFCN, CompactFCNConfig
from engine.predict import mirror_uv_map, plausible_refinement, predict_position_map

TINY = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4)


def test_mirroring_twice_is_the_identity() -> None:
    rng = np.random.default_rng(0)
    crop_map = rng.uniform(0, 128, size=(256, 256, 3)).astype(np.float32)
    twice = mirror_uv_map(mirror_uv_map(crop_map, 128), 128)
    np.testing.assert_allclose(twice, crop_map, atol=1e-4)  # exact up to float rounding of x


def test_the_uv_layout_is_left_right_symmetric(layout) -> None:
    # The mean face mirrored (x -> -x about its symmetry plane) equals the mean face read at
    # mirrored UV columns: the premise of mirror_uv_map.
    canonical = np.full((256 * 256, 3), np.nan)
    canonical[layout.face_indices] = layout.canonical_vertices
    canonical = canonical.reshape(256, 256, 3)
    both = layout.face_mask & layout.face_mask[:, ::-1]
    assert both.sum() > 0.99 * layout.face_mask.sum()
    mirrored = canonical[:, ::-1].copy()
    centre = np.median((canonical[..., 0][both] + mirrored[..., 0][both]) / 2)
    mirrored[..., 0] = 2 * centre - mirrored[..., 0]
    error = np.linalg.norm(canonical - mirrored, axis=-1)[both]
    face_width = np.ptp(layout.canonical_vertices[:, 0])
    assert np.percentile(error, 95) < 0.01 * face_width
    # the 68 landmarks pair up across the middle column
    columns = layout.landmark_map_pixels[:, 0]
    assert abs(columns[0] + columns[16] - 255) < 0.5 and abs(columns[36] + columns[45] - 255) < 0.5


def test_flip_average_of_a_symmetric_predictor_changes_nothing(layout) -> None:
    torch.manual_seed(0)
    model = CompactFCN(TINY).eval()
    image = np.random.default_rng(1).integers(0, 255, size=(90, 90, 3), dtype=np.uint8)
    box = (20.0, 20.0, 70.0, 70.0)
    plain = predict_position_map(model, image, box, layout, two_pass=False)
    flipped = predict_position_map(model, image, box, layout, two_pass=False, flip=True)
    assert plain.crop_map.shape == flipped.crop_map.shape == (256, 256, 3)
    # flip averaging is the mean of the plain map and the mirrored map of the mirrored crop
    mirrored_image = np.ascontiguousarray(image[:, ::-1])
    w = image.shape[1]
    mirrored_box = (w - box[2], box[1], w - box[0], box[3])
    other = predict_position_map(model, mirrored_image, mirrored_box, layout, two_pass=False)
    # crop of the mirrored image about the mirrored box is the mirrored crop (up to resampling)
    np.testing.assert_allclose(flipped.crop_map, 0.5 * (plain.crop_map + mirror_uv_map(
        other.crop_map, 64)), atol=1.0)


def test_two_pass_recrops_from_the_predicted_landmarks(layout) -> None:
    torch.manual_seed(0)
    model = CompactFCN(TINY).eval()
    image = np.random.default_rng(2).integers(0, 255, size=(120, 120, 3), dtype=np.uint8)
    result = predict_position_map(model, image, (30, 30, 90, 90), layout, two_pass=True)
    assert result.first_bbox == (30.0, 30.0, 90.0, 90.0)
    # a random network's landmarks are not a plausible face box: the first box is kept
    assert result.bbox == result.first_bbox or plausible_refinement(result.first_bbox, result.bbox)


def test_plausible_refinement() -> None:
    box = (0.0, 0.0, 100.0, 100.0)
    assert plausible_refinement(box, (10.0, 5.0, 105.0, 95.0))
    assert not plausible_refinement(box, (0.0, 0.0, 10.0, 10.0))       # far smaller
    assert not plausible_refinement(box, (300.0, 0.0, 400.0, 100.0))   # far away
    assert not plausible_refinement(box, (0.0, 0.0, float("nan"), 1.0))
