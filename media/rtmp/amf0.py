"""AMF0 encoding and decoding (Adobe AMF0 specification), plus the AMF3 switch.

Python mapping, chosen so that decode followed by encode gives the same bytes:

=================  ===========================================
AMF0 marker        Python value
=================  ===========================================
number (0x00)      ``float``  (``int`` is accepted when encoding)
boolean (0x01)     ``bool``
string (0x02)      ``str``  (up to 65535 UTF-8 bytes)
object (0x03)      ``dict[str, AmfValue]``
null (0x05)        ``None``
undefined (0x06)   ``UNDEFINED``
ECMA array (0x08)  ``EcmaArray`` (a ``dict`` subclass)
strict array 0x0A  ``list``
date (0x0B)        ``AmfDate``
long string 0x0C   ``LongString`` (a ``str`` subclass); plain ``str`` over 65535 bytes too
AVM+ (0x11)        the AMF3 value decoded by ``amf3.decode_value``
=================  ===========================================

Decoding is bounded: nesting deeper than ``MAX_DEPTH`` raises ``AmfError``, and
the input is always a whole RTMP message whose length is already capped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from . import amf3
from .amfvalues import UNDEFINED, Undefined
from .errors import AmfEncodeError, AmfError, AmfUnsupported

NUMBER, BOOLEAN, STRING, OBJECT, MOVIECLIP, NULL, UNDEFINED_MARKER = range(7)
REFERENCE, ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = range(7, 13)
UNSUPPORTED, RECORDSET, XML_DOCUMENT, TYPED_OBJECT, AVMPLUS = range(13, 18)

MAX_DEPTH: Final = 32




class EcmaArray(dict[str, Any]):
    """An associative array (marker 0x08), as sent in onMetaData."""


class LongString(str):
    """A string sent with the long-string marker (0x0C)."""


@dataclass(frozen=True, slots=True)
class AmfDate:
    """Milliseconds since the epoch (UTC) and the reserved time-zone field."""

    millis: float
    timezone: int = 0


AmfValue: TypeAlias = Any


class Reader:
    """A cursor over one buffer; every read checks the bounds."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise AmfError(f"truncated AMF: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AmfError(f"invalid UTF-8 in AMF string: {exc.reason}") from None


def _read_short_string(r: Reader) -> str:
    (n,) = struct.unpack(">H", r.take(2))
    return _utf8(r.take(n))


def _read_properties(r: Reader, depth: int, into: dict[str, Any]) -> dict[str, Any]:
    while True:
        key = _read_short_string(r)
        if key == "" and r.data[r.pos : r.pos + 1] == bytes([OBJECT_END]):
            r.pos += 1
            return into
        into[key] = _decode(r, depth + 1)


def _read_number(r: Reader, depth: int) -> float:
    return float(struct.unpack(">d", r.take(8))[0])


def _read_boolean(r: Reader, depth: int) -> bool:
    return r.u8() != 0


def _read_string(r: Reader, depth: int) -> str:
    return _read_short_string(r)


def _read_object(r: Reader, depth: int) -> dict[str, Any]:
    return _read_properties(r, depth, {})


def _read_null(r: Reader, depth: int) -> None:
    return None


def _read_undefined(r: Reader, depth: int) -> Undefined:
    return UNDEFINED


def _read_ecma_array(r: Reader, depth: int) -> EcmaArray:
    r.take(4)  # the count is advisory; encoders get it wrong, the end marker decides
    return EcmaArray(_read_properties(r, depth, EcmaArray()))


def _read_strict_array(r: Reader, depth: int) -> list[Any]:
    (count,) = struct.unpack(">I", r.take(4))
    if count > len(r.data) - r.pos:  # every value takes at least one byte
        raise AmfError(f"strict array of {count} items exceeds the message")
    return [_decode(r, depth + 1) for _ in range(count)]


def _read_date(r: Reader, depth: int) -> AmfDate:
    millis, tz = struct.unpack(">dh", r.take(10))
    return AmfDate(float(millis), tz)


def _read_long_string(r: Reader, depth: int) -> LongString:
    (n,) = struct.unpack(">I", r.take(4))
    return LongString(_utf8(r.take(n)))


def _read_avmplus(r: Reader, depth: int) -> Any:
    value, r.pos = amf3.decode_value(r.data, r.pos)
    return value


_DECODERS: dict[int, Any] = {
    NUMBER: _read_number,
    BOOLEAN: _read_boolean,
    STRING: _read_string,
    OBJECT: _read_object,
    NULL: _read_null,
    UNDEFINED_MARKER: _read_undefined,
    ECMA_ARRAY: _read_ecma_array,
    STRICT_ARRAY: _read_strict_array,
    DATE: _read_date,
    LONG_STRING: _read_long_string,
    AVMPLUS: _read_avmplus,
}


def _decode(r: Reader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise AmfError(f"AMF nesting deeper than {MAX_DEPTH}")
    marker = r.u8()
    decoder = _DECODERS.get(marker)
    if decoder is None:
        if marker == OBJECT_END:
            raise AmfError("object-end marker outside an object")
        raise AmfUnsupported(f"unsupported AMF0 marker 0x{marker:02x}")
    return decoder(r, depth)


def decode_value(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode one value at ``pos``; return it and the offset after it."""
    r = Reader(data, pos)
    return _decode(r, 0), r.pos


def decode_all(data: bytes) -> list[Any]:
    """Decode every value in ``data`` (a command or data message body)."""
    r = Reader(data)
    values = []
    while not r.at_end():
        values.append(_decode(r, 0))
    return values


# -- encoding ----------------------------------------------------------------


def _encode_str(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 0xFFFF or isinstance(value, LongString):
        return bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
    return bytes([STRING]) + struct.pack(">H", len(raw)) + raw


def _encode_key(key: object) -> bytes:
    if not isinstance(key, str):
        raise AmfEncodeError(f"AMF0 object keys must be str, not {type(key).__name__}")
    raw = key.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise AmfEncodeError("AMF0 object key longer than 65535 bytes")
    return struct.pack(">H", len(raw)) + raw


def _encode_properties(value: dict[str, Any], depth: int) -> bytes:
    parts = [_encode_key(k) + _encode(v, depth + 1) for k, v in value.items()]
    return b"".join(parts) + b"\x00\x00" + bytes([OBJECT_END])


def _encode(value: Any, depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise AmfEncodeError(f"AMF nesting deeper than {MAX_DEPTH}")
    if value is None:
        return bytes([NULL])
    if value is UNDEFINED:
        return bytes([UNDEFINED_MARKER])
    if isinstance(value, bool):
        return bytes([BOOLEAN, 1 if value else 0])
    if isinstance(value, int | float):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, AmfDate):
        return bytes([DATE]) + struct.pack(">dh", value.millis, value.timezone)
    if isinstance(value, EcmaArray):
        head = bytes([ECMA_ARRAY]) + struct.pack(">I", len(value))
        return head + _encode_properties(value, depth)
    if isinstance(value, dict):
        return bytes([OBJECT]) + _encode_properties(value, depth)
    if isinstance(value, list | tuple):
        body = b"".join(_encode(v, depth + 1) for v in value)
        return bytes([STRICT_ARRAY]) + struct.pack(">I", len(value)) + body
    raise AmfEncodeError(f"cannot encode {type(value).__name__} as AMF0")


def encode_value(value: Any) -> bytes:
    """Encode one Python value as AMF0."""
    return _encode(value, 0)


def encode_all(*values: Any) -> bytes:
    """Encode several values back to back (a command or data message body)."""
    return b"".join(_encode(v, 0) for v in values)
