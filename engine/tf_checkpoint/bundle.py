"""Tensor bundles: the checkpoint's index entries and the tensors they point to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from .checksums import crc32c, mask_crc
from .table import read_table
from .wire import MalformedBytes, decode_protobuf, signed64

# TensorFlow DataType enum values (types.proto) -> numpy dtypes we can read.
TF_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),   # DT_FLOAT
    2: np.dtype(np.float64),   # DT_DOUBLE
    3: np.dtype(np.int32),     # DT_INT32
    4: np.dtype(np.uint8),     # DT_UINT8
    5: np.dtype(np.int16),     # DT_INT16
    6: np.dtype(np.int8),      # DT_INT8
    9: np.dtype(np.int64),     # DT_INT64
    10: np.dtype(np.bool_),    # DT_BOOL
    17: np.dtype(np.uint16),   # DT_UINT16
    19: np.dtype(np.float16),  # DT_HALF
    22: np.dtype(np.uint32),   # DT_UINT32
    23: np.dtype(np.uint64),   # DT_UINT64
}
# Names for messages: the readable types above plus the ones we refuse.
TF_DTYPE_NAMES = {**{code: dtype.name for code, dtype in TF_DTYPES.items()},
                  7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128"}

# Variables that belong to the optimiser or the training loop, not to the model.
OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1", "/Momentum", "/RMSProp", "/RMSProp_1",
                      "/Adagrad", "/ExponentialMovingAverage")
OPTIMIZER_NAMES = ("beta1_power", "beta2_power", "global_step")

_FIX = "re-download or re-export the checkpoint: PREFIX.index and every PREFIX.data-* file"


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives in a checkpoint (a decoded ``BundleEntryProto``)."""

    name: str
    dtype: int  # TensorFlow DataType enum value
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None  # masked crc32c of the tensor bytes, as TensorFlow stores it
    sliced: bool = False  # a partitioned variable (not supported for loading)

    @property
    def dtype_name(self) -> str:
        return TF_DTYPE_NAMES.get(self.dtype, f"DataType {self.dtype}")

    @property
    def numpy_dtype(self) -> np.dtype | None:
        return TF_DTYPES.get(self.dtype)


@dataclass(frozen=True)
class BundleHeader:
    num_shards: int = 1
    big_endian: bool = False


def _decode_shape(data: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in decode_protobuf(data):
        if number == 2:  # repeated Dim dim
            size = 0
            for dim_number, dim_value in decode_protobuf(value):
                if dim_number == 1:
                    size = signed64(dim_value)
            dims.append(size)
        elif number == 3 and value:  # unknown_rank
            raise MalformedBytes("tensor shape of unknown rank")
    return tuple(dims)


def _decode_entry(name: str, data: bytes) -> TensorEntry:
    dtype, shape, shard_id, offset, size, crc, sliced = 0, (), 0, 0, 0, None, False
    for number, value in decode_protobuf(data):
        if number == 1:
            dtype = value
        elif number == 2:
            shape = _decode_shape(value)
        elif number == 3:
            shard_id = value
        elif number == 4:
            offset = signed64(value)
        elif number == 5:
            size = signed64(value)
        elif number == 6:
            crc = value
        elif number == 7:
            sliced = True
    return TensorEntry(name, dtype, shape, shard_id, offset, size, crc, sliced)


def _decode_header(data: bytes) -> BundleHeader:
    num_shards, big_endian = 1, False
    for number, value in decode_protobuf(data):
        if number == 1:
            num_shards = value
        elif number == 2:
            big_endian = value == 1
    return BundleHeader(num_shards, big_endian)


def _index_path(prefix: str | os.PathLike) -> Path:
    prefix = str(prefix)
    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    return Path(prefix + ".index")


def checkpoint_prefix(path: str | os.PathLike) -> str:
    """Accept ``PREFIX``, ``PREFIX.index`` or ``PREFIX.data-*`` and return ``PREFIX``."""
    text = str(path)
    if text.endswith(".index"):
        return text[: -len(".index")]
    if ".data-" in Path(text).name:
        return text[: text.rindex(".data-")]
    return text


def data_path(prefix: str | os.PathLike, shard_id: int, num_shards: int) -> Path:
    return Path(f"{checkpoint_prefix(prefix)}.data-{shard_id:05d}-of-{num_shards:05d}")


def read_bundle_index(prefix: str | os.PathLike) -> tuple[BundleHeader, dict[str, TensorEntry]]:
    """The bundle header and every entry of ``PREFIX.index``."""
    path = _index_path(checkpoint_prefix(prefix))
    if not path.is_file():
        raise WeightsError(f"TensorFlow checkpoint index '{path}' not found; pass the checkpoint "
                           f"prefix (the path without .index / .data-*)")
    try:
        pairs = read_table(path.read_bytes())
        header, entries = None, {}
        for key, value in pairs:
            if key == b"":
                header = _decode_header(value)
                continue
            name = key.decode("utf-8")
            entries[name] = _decode_entry(name, value)
        if header is None:
            raise MalformedBytes("no bundle header (empty key) in the index")
    except (MalformedBytes, UnicodeDecodeError) as exc:
        raise WeightsError(f"TensorFlow checkpoint index '{path}' is corrupt or not a V2 "
                           f"checkpoint index ({exc}); {_FIX}") from None
    return header, entries


def is_optimizer_variable(name: str) -> bool:
    """Optimiser slots and training counters, which the model does not need."""
    base = name.rsplit("/", 1)[-1]
    return name.endswith(OPTIMIZER_SUFFIXES) or base in OPTIMIZER_NAMES


def read_index(prefix: str | os.PathLike, skip_optimizer: bool = False) -> dict[str, TensorEntry]:
    """Every variable in the checkpoint: name -> :class:`TensorEntry` (dtype, shape, location)."""
    _, entries = read_bundle_index(prefix)
    if skip_optimizer:
        entries = {n: e for n, e in entries.items() if not is_optimizer_variable(n)}
    return entries


def load_checkpoint(prefix: str | os.PathLike, skip_optimizer: bool = True,
                    verify_crc: bool = True) -> dict[str, np.ndarray]:
    """Every (model) variable of a V2 checkpoint as a numpy array, checked against its crc32c."""
    prefix = checkpoint_prefix(prefix)
    header, entries = read_bundle_index(prefix)
    if skip_optimizer:
        entries = {n: e for n, e in entries.items() if not is_optimizer_variable(n)}
    shards: dict[int, np.memmap | bytes] = {}
    arrays = {}
    for name, entry in entries.items():
        dtype = entry.numpy_dtype
        if dtype is None:
            raise WeightsError(f"variable '{name}' in '{prefix}.index' has dtype "
                               f"{entry.dtype_name}, which this reader does not support; "
                               f"convert it to float32 before saving the checkpoint")
        if entry.sliced:
            raise WeightsError(f"variable '{name}' in '{prefix}.index' is partitioned, which "
                               f"this reader does not support; save it unpartitioned")
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != entry.size:
            raise WeightsError(f"'{prefix}.index' is corrupt: variable '{name}' of shape "
                               f"{entry.shape} claims {entry.size} bytes; {_FIX}")
        if entry.shard_id not in shards:
            shards[entry.shard_id] = _open_shard(prefix, entry.shard_id, header.num_shards)
        shard = shards[entry.shard_id]
        raw = shard[entry.offset:entry.offset + entry.size]
        shard_name = data_path(prefix, entry.shard_id, header.num_shards)
        if entry.offset < 0 or len(raw) != entry.size:
            raise WeightsError(f"checkpoint data '{shard_name}' is truncated (variable '{name}' "
                               f"needs bytes {entry.offset}..{entry.offset + entry.size}); {_FIX}")
        if verify_crc and entry.crc32c is not None and mask_crc(crc32c(raw)) != entry.crc32c:
            raise WeightsError(f"checkpoint data '{shard_name}' is corrupt (checksum mismatch "
                               f"for variable '{name}'); {_FIX}")
        array = np.frombuffer(bytes(raw), dtype=dtype.newbyteorder(">" if header.big_endian
                                                                    else "<"))
        arrays[name] = array.astype(dtype).reshape(entry.shape)
    return arrays


def _open_shard(prefix: str, shard_id: int, num_shards: int) -> np.memmap | bytes:
    path = data_path(prefix, shard_id, num_shards)
    if not path.is_file():
        raise WeightsError(f"checkpoint data file '{path}' not found; put it beside "
                           f"'{prefix}.index' (the .index alone holds no weights)")
    if path.stat().st_size == 0:
        return b""
    return np.memmap(path, dtype=np.uint8, mode="r")
