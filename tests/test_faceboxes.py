"""Our FaceBoxes network against the weights file, its anchors, box decoding and NMS."""

from __future__ import annotations

import pytest
import torch

from engine.detectors.faceboxes import FaceBoxes, FaceBoxesConfig, load_faceboxes, read_state_dict
from engine.detectors.nms import box_iou, nms
from engine.detectors.priors import decode_boxes, feature_sizes, prior_boxes
from engine.errors import AssetError

WEIGHTS = "detectors/faceboxes/FaceBoxesProd.pth"


@pytest.fixture(scope="module")
def weights_path(assets_dir):
    return assets_dir / WEIGHTS


def test_every_tensor_of_the_file_fills_exactly_one_parameter_or_buffer(weights_path):
    state = read_state_dict(weights_path)
    model = load_faceboxes(weights_path)
    slots = dict(model.named_parameters()) | dict(model.named_buffers())
    assert len(slots) == len(model.state_dict())          # no slot reachable under two names
    assert sorted(state) == sorted(slots)                 # nothing missing, nothing left over
    for name, tensor in state.items():
        assert slots[name].shape == tensor.shape, name
        assert torch.equal(slots[name], tensor), name     # loaded, not just the right shape
    pointers = [t.data_ptr() for t in slots.values() if t.numel()]
    assert len(set(pointers)) == len(pointers)            # no two slots share storage


def test_module_prefix_is_accepted_and_a_wrong_file_is_an_asset_error(weights_path, tmp_path):
    state = read_state_dict(weights_path)
    prefixed = tmp_path / "prefixed.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, prefixed)
    assert torch.equal(load_faceboxes(prefixed).conv1.conv.weight, state["conv1.conv.weight"])

    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("conf.")}, missing)
    wrong = tmp_path / "wrong.pth"
    torch.save({**state, "loc.0.bias": torch.zeros(3)}, wrong)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    for path, words in ((missing, "missing: conf.0.bias"), (wrong, "wrong shape: loc.0.bias"),
                        (garbage, "not a readable")):
        with pytest.raises(AssetError) as info:
            load_faceboxes(path)
        message = str(info.value)
        assert words in message and "prnet fetch-assets" in message and "\n" not in message


@pytest.mark.parametrize("height, width", [(1024, 1024), (333, 517), (40, 33)])
def test_one_anchor_per_network_output(height, width):
    torch.manual_seed(0)
    model = FaceBoxes().eval()
    with torch.no_grad():
        offsets, logits = model(torch.zeros(1, 3, height, width))
    priors = prior_boxes(model.config, height, width)
    assert offsets.shape == (1, len(priors), 4) and logits.shape == (1, len(priors), 2)
    expected = sum(r * c * model.config.anchors_per_cell(i)
                   for i, (r, c) in enumerate(feature_sizes(model.config, height, width)))
    assert len(priors) == expected
    if (height, width) == (1024, 1024):
        assert len(priors) == 32 * 32 * 21 + 16 * 16 + 8 * 8


def test_anchor_layout_of_a_cell():
    config = FaceBoxesConfig()
    priors = prior_boxes(config, 64, 96)
    first_cell = priors[:21]
    # 32 px anchors tiled 4x4 from the cell corner (row by row), then 64 px 2x2, then 128 at the centre.
    assert torch.equal(first_cell[:4, 0], torch.tensor([0.0, 8.0, 16.0, 24.0]))
    assert torch.equal(first_cell[:16:4, 1], torch.tensor([0.0, 8.0, 16.0, 24.0]))
    assert torch.equal(first_cell[:16, 2], torch.full((16,), 32.0))
    assert torch.equal(first_cell[16:20, :2], torch.tensor([[0.0, 0.0], [16.0, 0.0], [0.0, 16.0], [16.0, 16.0]]))
    assert torch.equal(first_cell[20], torch.tensor([16.0, 16.0, 128.0, 128.0]))
    # The next cell (row 0, column 1) is one step to the right.
    assert torch.equal(priors[21:42, 0] - first_cell[:, 0], torch.full((21,), 32.0))
    stride_64 = priors[2 * 3 * 21]                      # first anchor of the second stage
    assert torch.equal(stride_64, torch.tensor([32.0, 32.0, 256.0, 256.0]))


def test_decoding_inverts_the_box_encoding():
    priors = torch.tensor([[100.0, 50.0, 32.0, 32.0], [300.0, 200.0, 256.0, 256.0]])
    boxes = torch.tensor([[90.0, 45.0, 130.0, 95.0], [150.0, 120.0, 420.0, 300.0]])
    centre, size = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
    offsets = torch.cat([(centre - priors[:, :2]) / (0.1 * priors[:, 2:]),
                         torch.log(size / priors[:, 2:]) / 0.2], dim=1)
    assert torch.allclose(decode_boxes(offsets, priors, (0.1, 0.2)), boxes, atol=1e-4)


def test_nms_keeps_the_best_of_each_overlapping_group():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0],
                          [0.0, 0.0, 10.0, 5.0], [21.0, 21.0, 30.0, 30.0]])
    scores = torch.tensor([0.6, 0.9, 0.5, 0.8, 0.7])
    # Best first: 1 suppresses 0 (IoU 81/119) but not 3 (IoU 36/114 = 0.32); 4 suppresses 2 (0.81).
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 4]
    assert nms(boxes, scores, 0.3).tolist() == [1, 4]
    assert box_iou(boxes[0], boxes[3:4]).item() == pytest.approx(0.5)
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
