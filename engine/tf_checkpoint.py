"""Reading TensorFlow V2 checkpoints (tensor bundles) without TensorFlow or protobuf.

A checkpoint saved by ``tf.train.Saver`` (V2 format) is ``PREFIX.index`` plus
``PREFIX.data-0000K-of-0000N``. The index is a LevelDB-format table (SSTable):

- a 48-byte footer: the metaindex and index block handles (varint offset and
  size), zero padding, the 8-byte magic ``0xdb4775248b80fb57``;
- the index block maps the last key of every data block to that block's handle;
- every block holds prefix-compressed entries (shared key length, unshared key
  length, value length as varints, then the key suffix and the value), an array
  of uint32 restart offsets and their count, and is followed by a 5-byte trailer
  (compression type, masked crc32c of block + type byte).

Keys are variable names; the empty key holds a ``BundleHeaderProto`` and every
other value is a ``BundleEntryProto`` (dtype, shape, shard_id, offset, size,
crc32c of the tensor bytes). Tensor bytes are raw, C order, in the header's
byte order. Only what ``Saver`` writes for plain, unpartitioned numeric
variables is supported; anything else raises :class:`WeightsError`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import WeightsError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION, SNAPPY_COMPRESSION = 0, 1

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


# --------------------------------------------------------------------------- crc32c

def _make_crc32c_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table[byte] = crc
    return table


_CRC_TABLE = _make_crc32c_table()
_CRC_TABLE_LIST = [int(v) for v in _CRC_TABLE]


def _crc_raw_small(data: bytes | memoryview, crc: int = 0) -> int:
    """Register update without pre/post inversion, one byte at a time (short inputs)."""
    table = _CRC_TABLE_LIST
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _gf2_apply(matrix: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Apply a 32x32 GF(2) matrix (column i = image of bit i) to uint32 values."""
    out = np.zeros_like(values)
    for bit in range(32):
        out ^= np.where((values >> np.uint32(bit)) & np.uint32(1), matrix[bit], np.uint32(0))
    return out


_ZERO_POWERS: list[np.ndarray] = []  # [k] = operator for 2**k zero bytes


def _zero_power(k: int) -> np.ndarray:
    if not _ZERO_POWERS:
        columns = [1 << bit for bit in range(32)]
        _ZERO_POWERS.append(np.array([_crc_raw_small(b"\0", c) for c in columns], dtype=np.uint32))
    while len(_ZERO_POWERS) <= k:  # operator(2n) = operator(n) applied twice
        _ZERO_POWERS.append(_gf2_apply(_ZERO_POWERS[-1], _ZERO_POWERS[-1]))
    return _ZERO_POWERS[k]


def _feed_zeros(values: np.ndarray, num_bytes: int) -> np.ndarray:
    """Raw CRC registers after ``num_bytes`` more zero bytes (the map is linear)."""
    k = 0
    while num_bytes:
        if num_bytes & 1:
            values = _gf2_apply(_zero_power(k), values)
        num_bytes >>= 1
        k += 1
    return values


def crc32c(data: bytes | memoryview | np.ndarray) -> int:
    """CRC-32C (Castagnoli) of ``data``, vectorised with numpy for large inputs."""
    buffer = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    length = buffer.size
    if length < 4096:
        return _crc_raw_small(buffer.tobytes(), 0xFFFFFFFF) ^ 0xFFFFFFFF
    # The raw CRC (init 0) is linear and ignores leading zeros: pad in front, split
    # into equal lanes, run all lanes at once, then fold neighbours pairwise.
    lane_length = 256
    lanes = 1 << max(0, int(np.ceil(np.log2(-(-length // lane_length)))))
    padded = np.zeros(lanes * lane_length, dtype=np.uint8)
    padded[padded.size - length:] = buffer
    columns = np.ascontiguousarray(padded.reshape(lanes, lane_length).T).astype(np.uint32)
    crc = np.zeros(lanes, dtype=np.uint32)
    for column in columns:
        crc = _CRC_TABLE[(crc ^ column) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    span = lane_length
    while crc.size > 1:
        crc = _feed_zeros(crc[0::2], span) ^ crc[1::2]
        span *= 2
    # Account for the 0xFFFFFFFF initial register: it passes through all `length` bytes.
    init = _feed_zeros(np.array([0xFFFFFFFF], dtype=np.uint32), length)
    return int(crc[0] ^ init[0]) ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow's crc masking (stored crcs are masked)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf

class _Corrupt(ValueError):
    """Internal: malformed bytes; turned into a WeightsError naming the file."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise _Corrupt("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Corrupt("varint longer than 10 bytes")


def decode_protobuf(data: bytes) -> list[tuple[int, int | bytes]]:
    """Wire-format fields ``(field_number, value)``: ints for varint/fixed, bytes for length-delimited."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _Corrupt("field number 0")
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            if pos + 8 > len(data):
                raise _Corrupt("truncated fixed64")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise _Corrupt("truncated length-delimited field")
            value = data[pos:pos + length]
            pos += length
        elif wire_type == 5:
            if pos + 4 > len(data):
                raise _Corrupt("truncated fixed32")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        else:
            raise _Corrupt(f"unsupported wire type {wire_type}")
        fields.append((number, value))
    return fields


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_shape(data: bytes) -> tuple[int, ...]:
    dims = []
    for number, value in decode_protobuf(data):
        if number == 2:  # repeated Dim dim
            size = 0
            for dim_number, dim_value in decode_protobuf(value):
                if dim_number == 1:
                    size = _signed64(dim_value)
            dims.append(size)
        elif number == 3 and value:  # unknown_rank
            raise _Corrupt("tensor shape of unknown rank")
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
            offset = _signed64(value)
        elif number == 5:
            size = _signed64(value)
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


# --------------------------------------------------------------------------- table

def _block_handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(data, pos)
    size, pos = _varint(data, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER_SIZE > len(table):
        raise _Corrupt(f"block at {offset}+{size} runs past the end of the file")
    block = table[offset:end]
    compression = table[end]
    stored_crc = struct.unpack_from("<I", table, end + 1)[0]
    actual = _crc_raw_small(table[offset:end + 1], 0xFFFFFFFF) ^ 0xFFFFFFFF
    if mask_crc(actual) != stored_crc:
        raise _Corrupt(f"checksum mismatch in the block at offset {offset}")
    if compression == SNAPPY_COMPRESSION:
        raise _Corrupt("snappy-compressed index blocks are not supported (TensorFlow writes "
                       "uncompressed indexes; re-save the checkpoint with tf.train.Saver)")
    if compression != NO_COMPRESSION:
        raise _Corrupt(f"unknown block compression type {compression}")
    return block


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise _Corrupt("block shorter than its restart count")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    entries_end = len(block) - 4 - 4 * num_restarts
    if entries_end < 0:
        raise _Corrupt("block restart array larger than the block")
    entries, pos, key = [], 0, b""
    while pos < entries_end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_length > entries_end:
            raise _Corrupt("malformed block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + value_length]))
        pos += value_length
    return entries


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-format table, in key order."""
    if len(data) < FOOTER_SIZE:
        raise _Corrupt(f"{len(data)} bytes, shorter than a table footer")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise _Corrupt("bad table magic: truncated, or not a checkpoint index")
    _, _, pos = _block_handle(footer, 0)  # metaindex: unused by tensor bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    pairs = []
    for _, handle in _block_entries(_read_block(data, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        pairs.extend(_block_entries(_read_block(data, offset, size)))
    return pairs


# --------------------------------------------------------------------------- bundle

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
            raise _Corrupt("no bundle header (empty key) in the index")
    except (_Corrupt, UnicodeDecodeError) as exc:
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
