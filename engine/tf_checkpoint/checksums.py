"""CRC-32C (Castagnoli), as LevelDB and TensorFlow store it (masked), vectorised with NumPy."""

from __future__ import annotations

import numpy as np


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
