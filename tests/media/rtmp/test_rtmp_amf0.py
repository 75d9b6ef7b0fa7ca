"""AMF0 (and the AMF3 switch) against literal bytes, both ways, at every prefix, fuzzed."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtmp import amf0
from media.rtmp.amf0 import UNDEFINED, AmfDate, EcmaArray, LongString
from media.rtmp.errors import AmfEncodeError, AmfError, AmfUnsupported, ProtocolError

ONE = struct.pack(">d", 1.0)

VECTORS: list[tuple[object, bytes]] = [
    (2.0, bytes.fromhex("004000000000000000")),
    (True, b"\x01\x01"),
    (False, b"\x01\x00"),
    ("connect", b"\x02\x00\x07connect"),
    ("", b"\x02\x00\x00"),
    ({"app": "live"}, b"\x03\x00\x03app\x02\x00\x04live\x00\x00\x09"),
    ({}, b"\x03\x00\x00\x09"),
    (None, b"\x05"),
    (UNDEFINED, b"\x06"),
    (EcmaArray(duration=1.0), b"\x08\x00\x00\x00\x01\x00\x08duration\x00" + ONE + b"\x00\x00\x09"),
    ([1.0, "a"], b"\x0a\x00\x00\x00\x02\x00" + ONE + b"\x02\x00\x01a"),
    (AmfDate(1.0, 0), b"\x0b" + ONE + b"\x00\x00"),
    (LongString("abc"), b"\x0c\x00\x00\x00\x03abc"),
    (
        {"a": {"b": [None]}},
        b"\x03\x00\x01a\x03\x00\x01b\x0a\x00\x00\x00\x01\x05\x00\x00\x09\x00\x00\x09",
    ),
]


@pytest.mark.parametrize(("value", "wire"), VECTORS)
def test_encode_literal(value: object, wire: bytes) -> None:
    assert amf0.encode_value(value) == wire


@pytest.mark.parametrize(("value", "wire"), VECTORS)
def test_decode_literal(value: object, wire: bytes) -> None:
    decoded, end = amf0.decode_value(wire)
    assert decoded == value and type(decoded) is type(value)
    assert end == len(wire)


@pytest.mark.parametrize(("value", "wire"), VECTORS)
def test_every_truncated_prefix_is_a_named_error(value: object, wire: bytes) -> None:
    for cut in range(len(wire)):
        with pytest.raises(AmfError):
            amf0.decode_value(wire[:cut])


def test_int_encodes_as_number_and_long_str_switches_marker() -> None:
    assert amf0.encode_value(1) == b"\x00" + ONE
    long = "x" * 70000
    wire = amf0.encode_value(long)
    assert wire[:5] == b"\x0c" + struct.pack(">I", 70000)
    assert amf0.decode_value(wire)[0] == long


def test_decode_all_command() -> None:
    body = amf0.encode_all("connect", 1, {"app": "live"})
    assert amf0.decode_all(body) == ["connect", 1.0, {"app": "live"}]


def test_ecma_array_count_is_advisory() -> None:
    wire = b"\x08\x00\x00\x00\x07\x00\x01k\x05\x00\x00\x09"
    assert amf0.decode_value(wire)[0] == {"k": None}


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"\x11\x00", UNDEFINED),
        (b"\x11\x01", None),
        (b"\x11\x02", False),
        (b"\x11\x03", True),
        (b"\x11\x04\x7f", 127.0),
        (b"\x11\x04\x81\x00", 128.0),
        (b"\x11\x04\xff\xff\xff\xff", -1.0),
        (b"\x11\x05" + ONE, 1.0),
        (b"\x11\x06\x07abc", "abc"),
    ],
)
def test_amf3_switch_basic_types(wire: bytes, value: object) -> None:
    decoded, end = amf0.decode_value(wire)
    assert decoded == value and end == len(wire)
    for cut in range(len(wire)):
        with pytest.raises(AmfError):
            amf0.decode_value(wire[:cut])


@pytest.mark.parametrize("wire", [b"\x11\x0a\x0b\x01", b"\x04", b"\x07\x00\x01", b"\x0d", b"\x0f"])
def test_unsupported_markers(wire: bytes) -> None:
    with pytest.raises(AmfUnsupported):
        amf0.decode_value(wire)


def test_bad_utf8_and_stray_end_and_depth() -> None:
    with pytest.raises(AmfError, match="UTF-8"):
        amf0.decode_value(b"\x02\x00\x01\xff")
    with pytest.raises(AmfError, match="object-end"):
        amf0.decode_value(b"\x09")
    with pytest.raises(AmfError, match="deeper"):
        amf0.decode_value(b"\x0a\x00\x00\x00\x01" * 40 + b"\x05")
    with pytest.raises(AmfError, match="exceeds"):
        amf0.decode_value(b"\x0a\xff\xff\xff\xff\x05")


def test_encode_errors_are_usage_errors() -> None:
    with pytest.raises(AmfEncodeError):
        amf0.encode_value(object())
    with pytest.raises(AmfEncodeError):
        amf0.encode_value({1: 2})


amf_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.just(UNDEFINED),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4).map(EcmaArray)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(amf_values)
def test_roundtrip(value: object) -> None:
    wire = amf0.encode_value(value)
    decoded, end = amf0.decode_value(wire)
    assert end == len(wire)
    assert amf0.encode_value(decoded) == wire


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_only_named_errors(data: bytes) -> None:
    try:
        values = amf0.decode_all(data)
    except ProtocolError:
        return
    for v in values:
        if isinstance(v, float) and math.isnan(v):
            continue
        amf0.encode_value(v)
