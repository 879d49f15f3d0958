"""The weighted position-map loss: the 16:4:3:0 mask and the explicit normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.uv_layout import load_uv_layout
from training.losses import (WEIGHT_CLASSES, WeightedPositionLoss, laplacian_error, load_loss_weights,
                             weighted_position_loss, weights_from_grey)


@pytest.fixture(scope="module")
def grey(assets_dir) -> np.ndarray:
    return np.asarray(Image.open(assets_dir / "prnet/uv-data/uv_weight_mask.png").convert("L"))


def test_grey_levels_map_to_the_nearest_class():
    levels = np.array([255, 64, 48, 0, 53, 58, 117, 128, 200, 20], dtype=np.uint8)
    assert weights_from_grey(levels).tolist() == [16, 4, 3, 0, 3, 4, 4, 4, 16, 0]


def test_mask_has_the_papers_16_4_3_0_ratio(grey):
    weights = load_loss_weights(zero_outside_face=False)
    assert weights.shape == (256, 256) and weights.dtype == np.float32
    assert set(np.unique(weights).tolist()) == {0.0, 3.0, 4.0, 16.0}
    landmark = weights[grey == 255]
    features = weights[grey == 64]
    face = weights[grey == 48]
    neck = weights[grey == 0]
    assert landmark.size == 68 and features.size > 1000 and face.size > 10000 and neck.size > 0
    assert np.all(landmark == 16) and np.all(features == 4) and np.all(face == 3) and np.all(neck == 0)
    # exactly 16 : 4 : 3 (integers, so compare crosswise)
    assert 3 * landmark[0] == 16 * face[0] and 3 * features[0] == 4 * face[0]
    # The 68 landmark pixels of the UV layout are exactly the weight-16 pixels.
    layout = load_uv_layout()
    cols, rows = layout.keypoint_pixels[:, 0], layout.keypoint_pixels[:, 1]
    assert np.all(weights[rows, cols] == 16) and (weights == 16).sum() == 68
    assert dict(WEIGHT_CLASSES) == {255: 16.0, 64: 4.0, 48: 3.0, 0: 0.0}


def test_outside_the_face_is_zero_by_default():
    full = load_loss_weights(zero_outside_face=False)
    weights = load_loss_weights()
    face = load_uv_layout().face_mask
    assert np.all(weights[~face] == 0)
    assert np.array_equal(weights[face], full[face])
    assert (full[~face] > 0).any()  # the PNG itself weights the neck 3: we zero it on purpose


def _maps(offset_at=None, offset=(3.0, 4.0, 0.0), batch=2):
    target = torch.rand(batch, 3, 256, 256) * 200
    prediction = target.clone()
    delta = torch.tensor(offset).view(1, 3, 1, 1)
    if offset_at is None:
        prediction += delta
    else:
        row, col = offset_at
        prediction[:, :, row, col] += delta[:, :, 0, 0]
    return prediction, target


def test_perfect_prediction_scores_zero():
    loss = WeightedPositionLoss()
    target = torch.rand(2, 3, 256, 256) * 255
    assert loss(target, target).item() == 0.0


def test_normalisation_is_explicit():
    weights = torch.from_numpy(load_loss_weights())
    prediction, target = _maps()   # every pixel off by (3, 4, 0): squared distance 25
    by_pixels = weighted_position_loss(prediction, target, weights, "squared", "pixels")
    by_weights = weighted_position_loss(prediction, target, weights, "squared", "weights")
    l2 = weighted_position_loss(prediction, target, weights, "l2", "weights")
    assert by_pixels.item() == pytest.approx(25.0 * weights.mean().item(), rel=1e-4)
    assert by_weights.item() == pytest.approx(25.0, rel=1e-4)
    assert l2.item() == pytest.approx(5.0, rel=1e-4)


def test_pixel_weights_enter_with_their_class():
    weights = torch.from_numpy(load_loss_weights())
    layout = load_uv_layout()
    col, row = (int(v) for v in layout.keypoint_pixels[30])
    prediction, target = _maps(offset_at=(row, col))
    at_landmark = weighted_position_loss(prediction, target, weights).item()
    assert at_landmark == pytest.approx(16 * 25 / 65536, rel=1e-4)
    prediction, target = _maps(offset_at=(0, 0))  # the corner: no face there
    assert weighted_position_loss(prediction, target, weights).item() == 0.0


def test_gradient_reaches_the_prediction_and_bad_shapes_fail():
    loss = WeightedPositionLoss()
    prediction, target = _maps()
    prediction.requires_grad_(True)
    loss(prediction, target).backward()
    assert prediction.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        loss(prediction[:, :2], target[:, :2])
    with pytest.raises(ValueError):
        WeightedPositionLoss(error="cubic")


def test_laplacian_term_ignores_smooth_errors_and_punishes_ripple():
    weights = torch.ones(16, 16)
    target = torch.rand(1, 3, 16, 16) * 100
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    tilt = target + 2.0 * rows + 3.0 * cols + 5.0          # an offset and a plane: smooth
    plain = weighted_position_loss(tilt, target, weights, normalisation="weights")
    with_term = weighted_position_loss(tilt, target, weights, normalisation="weights",
                                       laplacian_weight=1.0)
    assert with_term.item() == pytest.approx(plain.item(), rel=1e-5)

    checker = ((rows + cols) % 2) * 2 - 1                   # +-1 texel to texel
    ripple = target + checker.expand(3, 16, 16)[None]
    lap_squared, valid = laplacian_error(ripple, target)
    assert valid.sum().item() == 14 * 14                   # the map's rim has no 4 neighbours
    assert torch.allclose(lap_squared[valid], torch.tensor(3 * 64.0), rtol=1e-4)  # (4 * 2)^2 a channel
    plain = weighted_position_loss(ripple, target, weights, normalisation="weights").item()
    with_term = weighted_position_loss(ripple, target, weights, normalisation="weights",
                                       laplacian_weight=0.1).item()
    assert plain == pytest.approx(3.0)
    assert with_term == pytest.approx(3.0 + 0.1 * 192 * 196 / 256, rel=1e-5)


def test_laplacian_term_skips_texels_next_to_missing_ground_truth():
    target = torch.zeros(1, 3, 8, 8)
    prediction = target.clone()
    prediction[0, :, 4, 4] = 1.0
    coverage = torch.ones(1, 8, 8)
    _, valid = laplacian_error(prediction, target, coverage)
    assert valid[0, 4, 4] and valid[0, 3, 4]
    coverage[0, 4, 5] = 0                                   # a neighbour without ground truth
    _, valid = laplacian_error(prediction, target, coverage)
    assert not valid[0, 4, 4] and not valid[0, 4, 5] and valid[0, 3, 4]
    with pytest.raises(ValueError):
        WeightedPositionLoss(weights=torch.ones(8, 8), laplacian_weight=-1.0)
