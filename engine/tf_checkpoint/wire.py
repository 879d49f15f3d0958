"""The protobuf wire format, decoded without protobuf: varints and (field, value) pairs."""

from __future__ import annotations

import struct


class MalformedBytes(ValueError):
    """Malformed checkpoint bytes; the bundle reader turns it into a WeightsError naming the file."""


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise MalformedBytes("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedBytes("varint longer than 10 bytes")


def decode_protobuf(data: bytes) -> list[tuple[int, int | bytes]]:
    """Wire-format fields ``(field_number, value)``: ints for varint/fixed, bytes for length-delimited."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise MalformedBytes("field number 0")
        if wire_type == 0:
            value, pos = varint(data, pos)
        elif wire_type == 1:
            if pos + 8 > len(data):
                raise MalformedBytes("truncated fixed64")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire_type == 2:
            length, pos = varint(data, pos)
            if pos + length > len(data):
                raise MalformedBytes("truncated length-delimited field")
            value = data[pos:pos + length]
            pos += length
        elif wire_type == 5:
            if pos + 4 > len(data):
                raise MalformedBytes("truncated fixed32")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        else:
            raise MalformedBytes(f"unsupported wire type {wire_type}")
        fields.append((number, value))
    return fields


def signed64(value: int) -> int:
    """A uint64 read from the wire as the int64 it encodes."""
    return value - (1 << 64) if value >= 1 << 63 else value
