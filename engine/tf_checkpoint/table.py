"""LevelDB-format tables (SSTables), the format of a checkpoint's ``.index`` file."""

from __future__ import annotations

import struct

from .checksums import crc32c, mask_crc
from .wire import MalformedBytes, varint

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION, SNAPPY_COMPRESSION = 0, 1


def _block_handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = varint(data, pos)
    size, pos = varint(data, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if offset < 0 or end + BLOCK_TRAILER_SIZE > len(table):
        raise MalformedBytes(f"block at {offset}+{size} runs past the end of the file")
    block = table[offset:end]
    compression = table[end]
    stored_crc = struct.unpack_from("<I", table, end + 1)[0]
    actual = crc32c(table[offset:end + 1])
    if mask_crc(actual) != stored_crc:
        raise MalformedBytes(f"checksum mismatch in the block at offset {offset}")
    if compression == SNAPPY_COMPRESSION:
        raise MalformedBytes("snappy-compressed index blocks are not supported (TensorFlow writes "
                       "uncompressed indexes; re-save the checkpoint with tf.train.Saver)")
    if compression != NO_COMPRESSION:
        raise MalformedBytes(f"unknown block compression type {compression}")
    return block


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise MalformedBytes("block shorter than its restart count")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    entries_end = len(block) - 4 - 4 * num_restarts
    if entries_end < 0:
        raise MalformedBytes("block restart array larger than the block")
    entries, pos, key = [], 0, b""
    while pos < entries_end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        value_length, pos = varint(block, pos)
        if shared > len(key) or pos + unshared + value_length > entries_end:
            raise MalformedBytes("malformed block entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + value_length]))
        pos += value_length
    return entries


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-format table, in key order."""
    if len(data) < FOOTER_SIZE:
        raise MalformedBytes(f"{len(data)} bytes, shorter than a table footer")
    footer = data[-FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise MalformedBytes("bad table magic: truncated, or not a checkpoint index")
    _, _, pos = _block_handle(footer, 0)  # metaindex: unused by tensor bundles
    index_offset, index_size, _ = _block_handle(footer, pos)
    pairs = []
    for _, handle in _block_entries(_read_block(data, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        pairs.extend(_block_entries(_read_block(data, offset, size)))
    return pairs
