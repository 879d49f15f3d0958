"""CompactFCN: shapes, config validation, weights round trip, fusion, and the UV resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models import CompactFCN, CompactFCNConfig, build_model, config_from_spec, model_spec
from engine.uv_resample import (downsample_position_map, downsample_weights, read_texel_mask,
                                upsample_uv_map)
from engine.weights import load_model, prepare_for_inference, read_weights_info, save_weights

TINY = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4)


def test_shapes_and_uv_map() -> None:
    torch.manual_seed(0)
    model = CompactFCN(TINY).eval()
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        low = model(image)
        uv = model.uv_map(image)
    assert low.shape == (2, 3, 16, 16)
    assert uv.shape == (2, 3, 256, 256)
    assert 0.0 <= float(low.min()) and float(low.max()) <= 64 * 1.1
    # The upsampled map averages back to the low-resolution one (texel-centre aligned).
    back = torch.nn.functional.avg_pool2d(uv, 16)
    assert torch.allclose(back[..., 1:-1, 1:-1], low[..., 1:-1, 1:-1], atol=1e-3)


@pytest.mark.parametrize("fields", [{"input_size": 100}, {"output_size": 48},
                                    {"output_size": 2}, {"base_width": 0}])
def test_bad_configs_are_rejected(fields) -> None:
    with pytest.raises(ValueError):
        CompactFCNConfig(**fields)


def test_spec_round_trip() -> None:
    spec = model_spec(TINY)
    assert spec["architecture"] == "CompactFCN"
    assert config_from_spec(spec) == TINY
    assert type(build_model(config_from_spec({"base_width": 2}))).__name__ == "ResFCN256"
    with pytest.raises(ValueError):
        config_from_spec({"architecture": "NoSuchNet"})


def test_weights_round_trip_and_fusion(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = CompactFCN(TINY)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so fusion has work to do
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    model.eval()
    path = save_weights(model, tmp_path / "compact.safetensors", provenance={"test": True})
    info = read_weights_info(path)
    assert info.architecture == "CompactFCN" and info.config == TINY and info.input_size == 64
    loaded = load_model(path, device="cpu")
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.uv_map(image)
        assert torch.equal(loaded.uv_map(image), expected)
        fused = prepare_for_inference(load_model(path, device="cpu"))
        assert not any(isinstance(m, torch.nn.BatchNorm2d) and m is not None
                       for m in fused.decoder.modules())
        assert torch.allclose(fused.uv_map(image.contiguous(memory_format=torch.channels_last)),
                              expected, atol=1e-3)


def test_downsample_averages_valid_texels_only() -> None:
    rng = np.random.default_rng(0)
    full = rng.uniform(0, 100, size=(256, 256, 3)).astype(np.float32)
    valid = np.zeros((256, 256), bool)
    valid[:, :130] = True                      # texel column 32 (128..131) is half covered
    low, coverage = downsample_position_map(full, valid, 64)
    assert low.shape == (64, 64, 3) and coverage.shape == (64, 64)
    assert coverage[0, 31] == 1.0 and coverage[0, 32] == 0.5 and coverage[0, 33] == 0.0
    np.testing.assert_allclose(low[5, 32], full[20:24, 128:130].reshape(-1, 3).mean(0), rtol=1e-5)
    assert np.all(low[:, 33:] == 0)
    np.testing.assert_allclose(downsample_weights(np.full((256, 256), 3.0), 32), 3.0)


def test_upsample_is_bilinear_and_exact_on_linear_maps() -> None:
    # A map linear in the texel coordinates stays linear (away from the clamped border).
    cols = (np.arange(64) + 0.5) * 4 - 0.5
    low = np.broadcast_to(cols[None, :, None], (64, 64, 3)).astype(np.float32)
    up = upsample_uv_map(torch.from_numpy(low).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(up[10, 8:248, 0], np.arange(8, 248), atol=1e-3)


def test_read_texels_cover_the_bilinear_support(layout) -> None:
    mask = read_texel_mask(layout.read_pixels, 64)
    points = (layout.bfm_map_pixels + 0.5) / 4 - 0.5
    low = np.floor(points).astype(int)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        cols = np.clip(low[:, 0] + dx, 0, 63)
        rows = np.clip(low[:, 1] + dy, 0, 63)
        assert mask[rows, cols].all()
    assert 0.5 < mask.mean() < 0.9


def test_strided_stem_and_no_refinement_keep_the_output_and_the_weight_names() -> None:
    """stem_stride=2 moves the first block's stride into the stem (same weight shapes, so the
    same state_dict); decoder_refine=False drops the stride-1 deconvs; old files read as before."""
    lite = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4,
                            stem_stride=2, decoder_refine=False)
    model, old = CompactFCN(lite).eval(), CompactFCN(TINY).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 3, 16, 16)
        stem_out = model.stem(torch.rand(1, 3, 64, 64))
    assert stem_out.shape[-1] == 32 and model.encoder[0].conv2.stride == 1
    shapes = {n: t.shape for n, t in model.state_dict().items() if not n.startswith("decoder")}
    assert shapes == {n: t.shape for n, t in old.state_dict().items() if not n.startswith("decoder")}
    assert len(model.decoder) == TINY.upsamplings + 1 and len(old.decoder) == 2 * TINY.upsamplings + 1
    assert config_from_spec(model_spec(lite)) == lite
    older_file = {k: v for k, v in TINY.to_dict().items() if k not in ("stem_stride", "decoder_refine")}
    assert config_from_spec({"architecture": "CompactFCN", **older_file}) == TINY
    with pytest.raises(ValueError):
        CompactFCNConfig(stem_stride=4)
