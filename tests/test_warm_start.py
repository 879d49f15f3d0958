"""Starting a narrower, lighter CompactFCN from a trained wider one (training/warm_start.py)."""

from __future__ import annotations

import torch

from engine.models import CompactFCN, CompactFCNConfig
from training.warm_start import decoder_roles, leading_slice, shrink_state

WIDE = CompactFCNConfig(base_width=4, input_size=64, output_size=16, min_decoder_width=4)
NARROW = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4,
                          stem_stride=2, decoder_refine=False)


def test_decoder_roles_name_the_upsamplings_refinements_and_the_final_layer() -> None:
    assert decoder_roles(CompactFCN(WIDE)) == {
        "decoder.0": "up0", "decoder.1": "refine0", "decoder.2": "up1", "decoder.3": "refine1",
        "decoder.4": "up2", "decoder.5": "refine2", "decoder.6": "final"}
    assert decoder_roles(CompactFCN(NARROW)) == {"decoder.0": "up0", "decoder.1": "up1",
                                                 "decoder.2": "up2", "decoder.3": "final"}


def test_leading_slice() -> None:
    source = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(leading_slice(source, torch.Size([1, 2, 4])), source[:1, :2])
    assert leading_slice(source, torch.Size([3, 1, 1])) is None
    assert leading_slice(source, torch.Size([2, 3])) is None


def test_shrink_fills_every_tensor_from_its_counterpart() -> None:
    torch.manual_seed(0)
    wide = CompactFCN(WIDE)
    source = wide.state_dict()
    state, fresh = shrink_state(source, WIDE, NARROW)
    assert fresh == []
    narrow = CompactFCN(NARROW)
    narrow.load_state_dict(state)
    assert torch.equal(state["stem.conv.weight"], source["stem.conv.weight"][:2])
    assert torch.equal(state["encoder.9.conv3.conv.weight"],
                       source["encoder.9.conv3.conv.weight"][:64, :32])
    # decoder by role: the narrow net's second upsampling is the wide net's decoder.2
    assert torch.equal(state["decoder.1.deconv.weight"], source["decoder.2.deconv.weight"][:32, :16])
    assert torch.equal(state["decoder.3.deconv.weight"], source["decoder.6.deconv.weight"][:8])


def test_shrink_reports_what_has_no_counterpart() -> None:
    """From a network without refinement layers into one with them: those start fresh."""
    narrow = CompactFCN(NARROW)
    target = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4)
    state, fresh = shrink_state(narrow.state_dict(), NARROW, target)
    assert fresh and {name.split(".")[1] for name in fresh} == {"1", "3", "5"}
    CompactFCN(target).load_state_dict(state)
