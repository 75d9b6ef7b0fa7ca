"""The basic AMF3 types, reached through AMF0's AVM+ marker (0x11).

Clients that speak AMF3 (type 15 and 17 messages, or an AMF0 value switched with
marker 0x11) use it for scalars; we decode undefined, null, false, true,
integer (U29, sign-extended), double and string (with the string reference
table), and raise ``AmfUnsupported`` for the complex types (XML, date, array,
object, byte array, vectors, dictionary).  Reference tables are per value here,
which is exact for scalars.
"""

from __future__ import annotations

import struct
from typing import Any

from .amfvalues import UNDEFINED as AMF_UNDEFINED
from .errors import AmfError, AmfUnsupported

UNDEFINED, NULL, FALSE, TRUE, INTEGER, DOUBLE, STRING = range(7)


def _byte(data: bytes, pos: int) -> int:
    if pos >= len(data):
        raise AmfError(f"truncated AMF3 at offset {pos}")
    return data[pos]


def read_u29(data: bytes, pos: int) -> tuple[int, int]:
    """Read AMF3's variable-length 29-bit unsigned integer."""
    value = 0
    for i in range(4):
        b = _byte(data, pos)
        pos += 1
        if i == 3:
            return (value << 8) | b, pos
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos
    raise AssertionError("unreachable")


def _read_string(data: bytes, pos: int, strings: list[str]) -> tuple[str, int]:
    header, pos = read_u29(data, pos)
    if not header & 1:
        index = header >> 1
        if index >= len(strings):
            raise AmfError(f"AMF3 string reference {index} out of range")
        return strings[index], pos
    n = header >> 1
    if pos + n > len(data):
        raise AmfError("truncated AMF3 string")
    try:
        text = data[pos : pos + n].decode("utf-8")
    except UnicodeDecodeError:
        raise AmfError("invalid UTF-8 in AMF3 string") from None
    if text:
        strings.append(text)
    return text, pos + n


def decode_value(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode one basic AMF3 value at ``pos``; return it and the next offset."""
    marker = _byte(data, pos)
    pos += 1
    if marker == UNDEFINED:
        return AMF_UNDEFINED, pos
    if marker in (NULL, FALSE, TRUE):
        return {NULL: None, FALSE: False, TRUE: True}[marker], pos
    if marker == INTEGER:
        value, pos = read_u29(data, pos)
        return float(value - (1 << 29) if value & (1 << 28) else value), pos
    if marker == DOUBLE:
        if pos + 8 > len(data):
            raise AmfError("truncated AMF3 double")
        return float(struct.unpack(">d", data[pos : pos + 8])[0]), pos + 8
    if marker == STRING:
        return _read_string(data, pos, [])
    raise AmfUnsupported(f"unsupported AMF3 marker 0x{marker:02x}")
