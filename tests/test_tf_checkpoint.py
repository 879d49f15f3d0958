"""TensorFlow checkpoint reader and converter: the official index, TF's own output, corrupt files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.convert import (config_from_tf_shapes, convert_tf_checkpoint, model_tensor_names,
                            tf_arrays_to_state_dict, tf_name_map, tf_shape_for, tf_variable_name)
from engine.errors import WeightsError
from engine.models.resfcn256 import ResFCN256, ResFCN256Config
from engine.tf_checkpoint import (crc32c, is_optimizer_variable, load_checkpoint, mask_crc,
                                  read_bundle_index, read_index)
from engine.weights import load_model, prepare_for_inference, read_weights_info

OFFICIAL = "prnet/net-data/256_256_resfcn256_weight"
REFERENCE = "prnet/tf_reference/resfcn256_random"


# --------------------------------------------------------------------------- a tiny bundle writer
# Independent of the reader: writes the V2 format (LevelDB table + raw shard) from scratch.

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 0:
        return key + _varint(payload)
    if wire == 5:
        return key + struct.pack("<I", payload)
    return key + _varint(len(payload)) + payload


TF_ENUMS = {np.float32: 1, np.float64: 2, np.int32: 3, np.int64: 9, np.float16: 19}


def _entry(array: np.ndarray, offset: int, shard: int = 0) -> bytes:
    shape = b"".join(_field(2, 2, _field(1, 0, d)) for d in array.shape)
    raw = array.tobytes()
    return (_field(1, 0, TF_ENUMS[array.dtype.type]) + _field(2, 2, shape)
            + (_field(3, 0, shard) if shard else b"") + (_field(4, 0, offset) if offset else b"")
            + _field(5, 0, len(raw)) + _field(6, 5, mask_crc(crc32c(raw))))


def _block(pairs: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(pairs):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        out += key[shared:] + value
        previous = key
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _with_trailer(block: bytes, compression: int = 0) -> bytes:
    crc = mask_crc(crc32c(block + bytes([compression])))
    return block + bytes([compression]) + struct.pack("<I", crc)


def write_bundle(prefix: Path, tensors: dict[str, np.ndarray], entries_per_block: int = 3,
                 restart_interval: int = 2, compression: int = 0) -> None:
    """A V2 checkpoint: several data blocks, prefix-compressed keys, one shard."""
    shard, pairs = bytearray(), [(b"", _field(1, 0, 1))]  # header: num_shards = 1
    for name in sorted(tensors):
        pairs.append((name.encode(), _entry(tensors[name], len(shard))))
        shard += tensors[name].tobytes()
    table, index_pairs = bytearray(), []
    for start in range(0, len(pairs), entries_per_block):
        chunk = pairs[start:start + entries_per_block]
        block = _block(chunk, restart_interval)
        index_pairs.append((chunk[-1][0], _varint(len(table)) + _varint(len(block))))
        table += _with_trailer(block, compression)
    meta = _block([], 1)
    meta_handle = _varint(len(table)) + _varint(len(meta))
    table += _with_trailer(meta)
    index = _block(index_pairs, 1)
    index_handle = _varint(len(table)) + _varint(len(index))
    table += _with_trailer(index)
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    prefix.with_name(prefix.name + ".index").write_bytes(bytes(table + footer))
    prefix.with_name(prefix.name + ".data-00000-of-00001").write_bytes(bytes(shard))


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def converted(assets_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "resfcn256_random.safetensors"
    return convert_tf_checkpoint(assets_dir / REFERENCE, out)


@pytest.fixture()
def small_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "net/a/weights": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
        "net/a/weights/Adam": np.zeros((2, 3, 4, 5), np.float32),
        "net/a/BatchNorm/beta": rng.standard_normal(7).astype(np.float16),
        "net/b/double": rng.standard_normal((3, 3)),
        "net/b/ints32": np.arange(-5, 6, dtype=np.int32),
        "net/b/ints64": np.array([[1 << 40, -3]], dtype=np.int64),
        "net/big": rng.standard_normal((64, 300)).astype(np.float32),  # > 4096 bytes: vector crc
        "net/scalar": np.array(2.5, dtype=np.float32),
        "beta1_power": np.array(0.9, dtype=np.float32),
    }


# --------------------------------------------------------------------------- official index

def test_official_index_is_the_model_manifest(assets_dir: Path) -> None:
    header, everything = read_bundle_index(assets_dir / OFFICIAL)
    assert header.num_shards == 1 and not header.big_endian
    model_entries = read_index(assets_dir / OFFICIAL, skip_optimizer=True)
    assert len(model_entries) == 245
    # Adam keeps two slots per trainable (245 minus 2 x 48 BN statistics), plus beta1/2_power.
    assert len(everything) - len(model_entries) == 2 * (245 - 96) + 2
    assert all(e.dtype_name == "float32" and e.shard_id == 0 for e in model_entries.values())

    model = ResFCN256()
    ours = model.state_dict()
    name_map = tf_name_map()
    assert len(name_map) == len(model_tensor_names(model)) == 245
    assert set(name_map) == set(model_entries), "TF names and our names must pair up exactly"
    assert len(set(name_map.values())) == 245  # one-to-one
    for tf_name, entry in model_entries.items():
        torch_name = name_map[tf_name]
        assert entry.shape == tf_shape_for(torch_name, tuple(ours[torch_name].shape)), tf_name
        assert entry.size == 4 * int(np.prod(entry.shape))
    assert config_from_tf_shapes({n: e.shape for n, e in model_entries.items()}) == ResFCN256Config()


def test_name_map_examples() -> None:
    assert tf_variable_name("stem.conv.weight") == "resfcn256/Conv/weights"
    assert tf_variable_name("stem.bn.running_var") == "resfcn256/Conv/BatchNorm/moving_variance"
    assert tf_variable_name("encoder.0.shortcut.conv.weight") == "resfcn256/resBlock/shortcut/weights"
    assert tf_variable_name("encoder.0.conv1.bn.weight") == "resfcn256/resBlock/Conv/BatchNorm/gamma"
    assert tf_variable_name("encoder.1.conv2.conv.weight") == "resfcn256/resBlock_1/Conv_1/weights"
    assert tf_variable_name("encoder.9.conv3.conv.weight") == "resfcn256/resBlock_9/Conv_2/weights"
    assert tf_variable_name("encoder.4.bn.bias") == "resfcn256/resBlock_4/BatchNorm/beta"
    assert tf_variable_name("decoder.0.deconv.weight") == "resfcn256/Conv2d_transpose/weights"
    assert (tf_variable_name("decoder.16.bn.running_mean")
            == "resfcn256/Conv2d_transpose_16/BatchNorm/moving_mean")
    with pytest.raises(KeyError):
        tf_variable_name("stem.bn.num_batches_tracked")


def test_optimizer_filter() -> None:
    for name in ["beta1_power", "beta2_power", "global_step", "resfcn256/Conv/weights/Adam",
                 "resfcn256/Conv/BatchNorm/beta/Adam_1"]:
        assert is_optimizer_variable(name), name
    for name in ["resfcn256/Conv/weights", "resfcn256/Conv/BatchNorm/beta",
                 "resfcn256/resBlock/BatchNorm/moving_mean"]:
        assert not is_optimizer_variable(name), name


# --------------------------------------------------------------------------- TF's numbers

@pytest.mark.parametrize("prepared", [False, True], ids=["plain", "prepared"])
def test_converted_network_reproduces_tensorflow(assets_dir: Path, converted: Path,
                                                 prepared: bool) -> None:
    image = np.load(assets_dir / "prnet/tf_reference/input_nhwc.npy")
    expected = np.load(assets_dir / "prnet/tf_reference/tf_output_nhwc.npy")
    model = load_model(converted, device="cpu")
    assert not model.training
    if prepared:  # BatchNorm folded, channels_last: what the pipeline runs
        model = prepare_for_inference(model)
    with torch.inference_mode():
        ours = model.forward_unit(torch.from_numpy(image).permute(0, 3, 1, 2))
    ours = ours.permute(0, 2, 3, 1).numpy()
    assert ours.shape == expected.shape
    assert expected.std() > 0.1  # the reference is not a trivial constant
    assert np.abs(ours - expected).max() <= 1e-4


def test_layouts_and_provenance(assets_dir: Path, converted: Path) -> None:
    arrays = load_checkpoint(assets_dir / REFERENCE, verify_crc=False)  # crc: checked by `converted`
    assert len(arrays) == 245
    model = load_model(converted, device="cpu")
    state = model.state_dict()
    tf_stem = arrays["resfcn256/Conv/weights"]  # H, W, in, out
    assert state["stem.conv.weight"][5, 2, 1, 3].item() == tf_stem[1, 3, 2, 5]
    tf_deconv = arrays["resfcn256/Conv2d_transpose_1/weights"]  # H, W, out, in
    assert state["decoder.1.deconv.weight"][7, 4, 2, 0].item() == tf_deconv[2, 0, 4, 7]
    assert np.array_equal(state["encoder.3.bn.running_var"].numpy(),
                          arrays["resfcn256/resBlock_3/BatchNorm/moving_variance"])
    info = read_weights_info(converted)
    assert info.dtype == "float32" and info.config == ResFCN256Config()
    assert info.provenance["source"] == "tensorflow-checkpoint"
    assert info.provenance["checkpoint_files"]["resfcn256_random.index"] == (
        "21b9ef91c76aaa0b608fa4b6114f4d9f0f9928c0b933893962ba441f6f314d47")


# --------------------------------------------------------------------------- reader details

def test_crc32c_known_values() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    data = np.random.default_rng(0).integers(0, 256, 70001, dtype=np.uint8).tobytes()
    from engine.tf_checkpoint.checksums import _crc_raw_small  # the byte-at-a-time reference
    assert crc32c(data) == _crc_raw_small(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def test_synthetic_bundle_all_dtypes(tmp_path: Path, small_tensors) -> None:
    prefix = tmp_path / "model.ckpt"
    write_bundle(prefix, small_tensors)
    entries = read_index(prefix)
    assert set(entries) == set(small_tensors)
    assert entries["net/b/ints64"].dtype_name == "int64"
    loaded = load_checkpoint(str(prefix) + ".index", skip_optimizer=True)
    assert set(loaded) == set(small_tensors) - {"net/a/weights/Adam", "beta1_power"}
    for name, array in loaded.items():
        assert array.dtype == small_tensors[name].dtype, name
        assert np.array_equal(array, small_tensors[name]), name
    everything = load_checkpoint(prefix, skip_optimizer=False)
    assert "beta1_power" in everything and everything["net/scalar"].shape == ()


def test_snappy_blocks_are_refused(tmp_path: Path, small_tensors) -> None:
    prefix = tmp_path / "snappy"
    write_bundle(prefix, small_tensors, compression=1)
    with pytest.raises(WeightsError, match="snappy"):
        read_index(prefix)


@pytest.mark.parametrize("damage", ["truncate_tail", "truncate_half", "random", "empty", "flip"])
def test_corrupt_index(tmp_path: Path, assets_dir: Path, damage: str) -> None:
    data = (assets_dir / f"{OFFICIAL}.index").read_bytes()
    if damage == "truncate_tail":
        data = data[:-10]
    elif damage == "truncate_half":
        data = data[: len(data) // 2]
    elif damage == "random":
        data = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    elif damage == "empty":
        data = b""
    else:  # one flipped bit inside a data block: caught by the block crc
        data = bytearray(data)
        data[200] ^= 0x10
        data = bytes(data)
    index = tmp_path / "broken.index"
    index.write_bytes(data)
    with pytest.raises(WeightsError, match="broken.index") as info:
        read_index(tmp_path / "broken")
    assert "\n" not in str(info.value)


def test_missing_files(tmp_path: Path, assets_dir: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        read_index(tmp_path / "nothing")
    # The official index has no data shard beside it.
    with pytest.raises(WeightsError, match=r"data-00000-of-00001' not found"):
        load_checkpoint(assets_dir / OFFICIAL)


def test_corrupt_data_shard(tmp_path: Path, small_tensors) -> None:
    prefix = tmp_path / "model.ckpt"
    write_bundle(prefix, small_tensors)
    shard = tmp_path / "model.ckpt.data-00000-of-00001"
    good = shard.read_bytes()
    shard.write_bytes(good[:-8])
    with pytest.raises(WeightsError, match="truncated"):
        load_checkpoint(prefix)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 1
    shard.write_bytes(bytes(flipped))
    with pytest.raises(WeightsError, match="checksum"):
        load_checkpoint(prefix)


def test_converter_rejects_other_networks(tmp_path: Path, small_tensors) -> None:
    with pytest.raises(WeightsError, match="resfcn256"):
        tf_arrays_to_state_dict(small_tensors)
    # Right network (tiny width), then one variable missing and one with a wrong shape.
    with torch.device("meta"):
        reference = ResFCN256(ResFCN256Config(base_width=2)).state_dict()
    arrays = {tf_variable_name(n): np.zeros(tf_shape_for(n, tuple(t.shape)), np.float32)
              for n, t in reference.items() if not n.endswith("num_batches_tracked")}
    assert len(tf_arrays_to_state_dict(arrays)) == len(arrays)  # complete: converts
    del arrays["resfcn256/resBlock_2/Conv_1/weights"]
    arrays["resfcn256/Conv2d_transpose_3/BatchNorm/beta"] = np.zeros(5, np.float32)
    with pytest.raises(WeightsError, match=r"missing 1 variables.*Conv2d_transpose_3"):
        tf_arrays_to_state_dict(arrays)
