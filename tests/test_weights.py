"""Our weights file: round trips, metadata, fp16, every user-facing error, devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.errors import PRNetError, WeightsError
from engine.models.resfcn256 import ResFCN256, ResFCN256Config
from engine.weights import (DeviceError, load_model, load_weights, prepare_for_inference,
                            read_weights_info, resolve_device, save_weights)

TINY = ResFCN256Config(base_width=4)
PROVENANCE = {"source": "unit test", "date": "2026-01-01", "training": {"epochs": 0}}


def _random_model(config: ResFCN256Config = TINY, seed: int = 0) -> ResFCN256:
    """A network with non-default BatchNorm statistics, so that buffers matter."""
    torch.manual_seed(seed)
    model = ResFCN256(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model.eval()


def _image(size: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(5))


def _run(model: ResFCN256, image: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(image)


def _rewrite(path: Path, out: Path, **metadata_changes: str) -> Path:
    """Copy a weights file with some metadata fields replaced (tensors unchanged)."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    metadata.update(metadata_changes)
    save_file(tensors, str(out), metadata=metadata)
    return out


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[ResFCN256, Path]:
    model = _random_model()
    return model, save_weights(model, tmp_path / "tiny.safetensors", provenance=PROVENANCE)


# --------------------------------------------------------------------------- round trips

def test_round_trip_identical_outputs(saved) -> None:
    model, path = saved
    loaded = load_model(path, device="cpu")
    assert isinstance(loaded, ResFCN256) and not loaded.training
    assert loaded.config == TINY
    image = _image()
    assert torch.equal(_run(model, image), _run(loaded, image))
    for name, tensor in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(tensor, loaded.state_dict()[name]), name


def test_metadata(saved) -> None:
    model, path = saved
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        names = set(handle.keys())
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["architecture"] == "ResFCN256"
    assert metadata["format_version"] == "1"
    assert json.loads(metadata["config"]) == TINY.to_dict()
    assert json.loads(metadata["provenance"]) == PROVENANCE
    assert metadata["uv_layout"] == "prnet-bfm-uv-256" and metadata["input_size"] == "256"
    assert metadata["created_at"].startswith("20")
    assert not any(n.endswith("num_batches_tracked") for n in names)  # not stored...
    assert len(names) == 245
    info = read_weights_info(path)
    assert info.config == TINY and info.provenance == PROVENANCE and info.dtype == "float32"


def test_fp16_file_loads_as_float32(saved, tmp_path: Path) -> None:
    model, path32 = saved
    path16 = save_weights(model, tmp_path / "half.safetensors", provenance=PROVENANCE,
                          dtype=torch.float16)
    assert path16.stat().st_size < 0.6 * path32.stat().st_size
    with safe_open(str(path16), framework="pt") as handle:
        assert handle.get_tensor("stem.conv.weight").dtype == torch.float16
    loaded = load_model(path16, device="cpu")
    assert read_weights_info(path16).dtype == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.state_dict().values()
               if p.is_floating_point())
    image = _image()
    reference = _run(model, image)
    difference = (_run(loaded, image) - reference).abs().max().item()
    assert 0 < difference < 1e-2 * reference.abs().max().item()


def test_state_dict_save_needs_matching_config(tmp_path: Path) -> None:
    state = _random_model().state_dict()
    path = save_weights(state, tmp_path / "sd.safetensors", config=TINY, provenance={})
    assert load_model(path, "cpu").config == TINY
    with pytest.raises(ValueError, match="does not match"):
        save_weights(state, tmp_path / "bad.safetensors", config=ResFCN256Config(base_width=8))
    with pytest.raises(ValueError, match="config"):
        save_weights(state, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="dtype"):
        save_weights(state, tmp_path / "bad.safetensors", config=TINY, dtype=torch.bfloat16)
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob(".*part*"))


def test_failed_write_keeps_the_old_file(saved, monkeypatch) -> None:
    _, path = saved
    before = path.read_bytes()
    import safetensors.torch

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError):
        save_weights(_random_model(seed=1), path, provenance={})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# --------------------------------------------------------------------------- errors

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="nowhere.safetensors' not found") as info:
        load_model(tmp_path / "nowhere.safetensors", device="cpu")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "text"])
def test_corrupt_or_foreign_file(saved, tmp_path: Path, damage: str) -> None:
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) - 1000])
    elif damage == "random":
        bad.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8,
                                      generator=torch.Generator().manual_seed(0)).numpy().tobytes())
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_text("this is not a weights file\n")
    with pytest.raises(WeightsError, match="bad.safetensors") as info:
        load_model(bad, device="cpu")
    assert "\n" not in str(info.value)


def test_flipped_tensor_byte_is_detected(saved, tmp_path: Path) -> None:
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x40  # inside the last tensor's bytes; the header stays valid
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum"):
        load_model(bad, device="cpu")


def test_plain_safetensors_is_not_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(3)}, str(path))
    with pytest.raises(WeightsError, match="not a PRNet weights file"):
        load_model(path, device="cpu")


def test_wrong_architecture_and_version(saved, tmp_path: Path) -> None:
    _, path = saved
    other = _rewrite(path, tmp_path / "other.safetensors", architecture="ResNet50")
    with pytest.raises(WeightsError, match="architecture 'ResNet50'"):
        load_model(other, device="cpu")
    future = _rewrite(path, tmp_path / "future.safetensors", format_version="7")
    with pytest.raises(WeightsError, match="format version 7"):
        load_model(future, device="cpu")


def test_config_that_does_not_match_the_tensors(saved, tmp_path: Path) -> None:
    _, path = saved
    wider = json.dumps(ResFCN256Config(base_width=8).to_dict())
    bad = _rewrite(path, tmp_path / "wider.safetensors", config=wider)
    with pytest.raises(WeightsError, match=r"does not match its ResFCN256 config.*shape"):
        load_model(bad, device="cpu")
    unknown = json.dumps({**TINY.to_dict(), "dilation": 2})
    bad = _rewrite(path, tmp_path / "unknown.safetensors", config=unknown)
    with pytest.raises(WeightsError, match="config"):
        load_model(bad, device="cpu")


def test_missing_and_unexpected_tensors(saved, tmp_path: Path) -> None:
    _, path = saved
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    del tensors["decoder.3.bn.running_var"]
    tensors["decoder.3.extra"] = torch.zeros(2)
    metadata.pop("tensors_sha256")  # older/hand-made files may not carry a digest
    bad = tmp_path / "edited.safetensors"
    save_file(tensors, str(bad), metadata=metadata)
    with pytest.raises(WeightsError, match=r"1 missing tensors.*1 unexpected tensors"):
        load_weights(bad)


# --------------------------------------------------------------------------- devices

def test_devices(saved, monkeypatch) -> None:
    _, path = saved
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == expected
    assert next(load_model(path, device="auto").parameters()).device.type == expected.type
    assert next(load_model(path, device="cpu").parameters()).device.type == "cpu"
    assert next(load_model(path, device=torch.device("cpu")).parameters()).device.type == "cpu"
    with pytest.raises(DeviceError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match="CUDA is not available") as info:
        load_model(path, device="cuda")
    assert isinstance(info.value, PRNetError) and "\n" not in str(info.value)


def test_prepare_for_inference_keeps_outputs(saved) -> None:
    model, _ = saved
    image = _image()
    reference = _run(model, image)
    fast = prepare_for_inference(_random_model())
    batch_norms = [m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(batch_norms) == 5  # only after the identity-shortcut residual sums
    assert fast.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(_run(fast, image), reference, atol=1e-3, rtol=1e-4)
    again = _run(prepare_for_inference(fast), image)  # preparing twice changes nothing
    assert torch.allclose(again, reference, atol=1e-3, rtol=1e-4)
    plain = prepare_for_inference(_random_model(), fold_bn=False, channels_last=False)
    assert torch.equal(_run(plain, image), reference)
