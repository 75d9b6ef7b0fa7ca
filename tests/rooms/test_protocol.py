"""The envelope: client frames both wire formats, every bad input, server frames."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.errors import (
    BadField,
    FrameError,
    InvalidJSON,
    InvalidMsgpack,
    InvalidText,
    NotAnObject,
    UnknownOp,
    WrongFrameType,
)
from rooms.events import Event
from rooms.ops import parse_frame
from rooms.protocol import (
    ChatPin,
    ChatSend,
    ClientFrame,
    ModTimeout,
    RoomSettingsOp,
    SongRequest,
    TipHide,
    WireFormat,
    ack,
    encode,
    error,
    scrubbed,
    snapshot,
)

J, M = WireFormat.JSON, WireFormat.MSGPACK


def test_subprotocol_selects_format() -> None:
    assert WireFormat.for_subprotocol("nal.v1.msgpack") is M
    assert WireFormat.for_subprotocol(None) is J


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        ({"op": "chat.send", "id": 1, "text": "hi"}, ChatSend("hi")),
        ({"op": "chat.pin", "id": "a", "message_id": None}, ChatPin(None)),
        ({"op": "mod.timeout", "user": "x", "seconds": 30}, ModTimeout("x", 30)),
        ({"op": "room.settings", "blocked_terms": ["a*"]}, RoomSettingsOp(None, None, ("a*",))),
        ({"op": "song.request", "song_id": 3}, SongRequest(3)),
        ({"op": "tip.hide", "id": 4, "tip_id": "t9"}, TipHide("t9")),
    ],
)
@pytest.mark.parametrize("fmt", [J, M])
def test_parse_both_formats(frame: dict[str, Any], command: object, fmt: WireFormat) -> None:
    payload: str | bytes = json.dumps(frame) if fmt is J else msgpack.packb(frame)
    parsed = parse_frame(payload, fmt)
    assert parsed.command == command
    assert parsed.op == frame["op"]
    assert parsed.id == frame.get("id")


@pytest.mark.parametrize(
    ("payload", "fmt", "error_type", "client_id"),
    [
        ("{not json", J, InvalidJSON, None),
        ("", J, InvalidJSON, None),
        (b"\xc1", M, InvalidMsgpack, None),
        (b"\x92\x01", M, InvalidMsgpack, None),  # truncated array
        (b'{"op":"chat.send"}', J, WrongFrameType, None),
        ('{"op":"chat.send"}', M, WrongFrameType, None),
        ("[1,2]", J, NotAnObject, None),
        ('"text"', J, NotAnObject, None),
        ('{"id":5}', J, UnknownOp, 5),
        ('{"op":"chat.shout","id":"q"}', J, UnknownOp, "q"),
        ('{"op":7}', J, UnknownOp, None),
        ('{"op":"chat.send","id":1}', J, BadField, 1),
        ('{"op":"chat.send","id":1,"text":5}', J, BadField, 1),
        ('{"op":"chat.send","id":[1],"text":"x"}', J, BadField, None),
        ('{"op":"song.request","id":2,"song_id":"3"}', J, BadField, 2),
        ('{"op":"song.request","id":2,"song_id":true}', J, BadField, 2),
        ('{"op":"song.vote","id":2,"request_id":""}', J, BadField, 2),
        ('{"op":"room.settings","id":2}', J, BadField, 2),
        ('{"op":"tip.hide","id":2}', J, BadField, 2),
        ('{"op":"tip.hide","id":2,"tip_id":""}', J, BadField, 2),
        ('{"op":"room.settings","id":2,"blocked_terms":"x"}', J, BadField, 2),
        ('{"op":"mod.ban","id":3,"user":"' + "u" * 65 + '"}', J, BadField, 3),
    ],
)
def test_bad_frames(
    payload: str | bytes, fmt: WireFormat, error_type: type[FrameError], client_id: Any
) -> None:
    with pytest.raises(error_type) as info:
        parse_frame(payload, fmt)
    assert info.value.client_id == client_id
    assert info.value.code == error_type.code


LONE = "\\ud800"
"""A JSON escape for a lone high surrogate: valid JSON, not a Unicode scalar value."""


@pytest.mark.parametrize(
    "payload",
    [
        '{"op":"chat.send","id":1,"text":"hi ' + LONE + '"}',
        '{"op":"chat.send","id":1,"text":"\\udfff"}',
        '{"op":"chat.send","id":1,"text":"\\ude00\\ud83d"}',  # pair in the wrong order
        '{"op":"chat.send","id":"' + LONE + '","text":"hi"}',
        '{"op":"room.settings","id":1,"blocked_terms":["ok","' + LONE + '"]}',
        '{"op":"chat.send","id":1,"text":"hi","x' + LONE + '":{"deep":["' + LONE + '"]}}',
    ],
)
def test_lone_surrogates_in_json_are_refused(payload: str) -> None:
    with pytest.raises(InvalidText) as info:
        parse_frame(payload, J)
    assert info.value.code == "invalid_text"


def test_lone_surrogates_in_msgpack_are_refused() -> None:
    surrogate_utf8 = b"\xed\xa0\x80"  # what a lax encoder makes of U+D800
    body = msgpack.packb({"op": "chat.send", "id": 1, "text": "x"})
    payload = body.replace(b"\xa1x", b"\xa3" + surrogate_utf8)
    with pytest.raises(InvalidText):
        parse_frame(payload, M)


def test_surrogate_pairs_and_deep_nesting() -> None:
    pair = parse_frame('{"op":"chat.send","id":1,"text":"\\ud83d\\ude00"}', J)
    assert pair.command == ChatSend("\U0001f600")
    with pytest.raises(InvalidJSON):
        parse_frame("[" * 5000 + "]" * 5000, J)


@pytest.mark.parametrize("fmt", [J, M])
def test_scrubbed_keeps_what_encodes(fmt: WireFormat) -> None:
    data = {"chat": [{"text": "ok"}, {"text": "\ud800"}], "pinned": {"text": "\udfff"}, "n": 1}
    assert scrubbed(data, fmt) == {"chat": [{"text": "ok"}], "pinned": None, "n": 1}


@given(st.binary(max_size=64))
def test_fuzz_msgpack_only_frame_errors(data: bytes) -> None:
    try:
        frame = parse_frame(data, M)
    except FrameError:
        return  # refused with a frame error: fine; anything else fails the test
    assert isinstance(frame, ClientFrame)


@given(st.text(max_size=64))
def test_fuzz_json_only_frame_errors(text: str) -> None:
    try:
        frame = parse_frame(text, J)
    except FrameError:
        return  # refused with a frame error: fine; anything else fails the test
    assert isinstance(frame, ClientFrame)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=10,
    )
)
def test_fuzz_any_json_value(value: Any) -> None:
    for op in (None, "chat.send", "room.settings", "song.request", "mod.timeout", "chat.pin"):
        frame = {
            "op": op,
            "id": 1,
            "text": value,
            "song_id": value,
            "seconds": value,
            "blocked_terms": value,
            "user": value,
            "message_id": value,
            "slow_mode_s": value,
        }
        try:
            parsed = parse_frame(json.dumps(frame), J)
        except FrameError:
            continue  # refused with a frame error: fine; anything else fails the test
        assert isinstance(parsed, ClientFrame) and parsed.op == op


def test_server_frames_json_literal() -> None:
    assert encode(ack(1), J) == '{"type":"ack","id":1}'
    assert (
        encode(error("x", "unknown_op", "no"), J)
        == '{"type":"error","id":"x","code":"unknown_op","message":"no"}'
    )
    assert encode(snapshot(4, "e1", {"chat": []}, recovered=False), J) == (
        '{"type":"snapshot","seq":4,"epoch":"e1","recovered":false,"data":{"chat":[]}}'
    )
    assert "recovered" not in json.loads(encode(snapshot(4, "e1", {}), J))


def test_server_frames_msgpack_roundtrip() -> None:
    frame = snapshot(1, "e", {"viewers": 3})
    encoded = encode(frame, M)
    assert isinstance(encoded, bytes)
    assert msgpack.unpackb(encoded) == frame


def test_event_encoded_once_per_format() -> None:
    event = Event("chat.message", 3, "ep", {"text": "é"})
    assert event.json_text == '{"type":"chat.message","seq":3,"epoch":"ep","data":{"text":"é"}}'
    assert event.json_text is event.json_text
    assert event.msgpack_bytes is event.msgpack_bytes
    assert msgpack.unpackb(event.msgpack_bytes) == json.loads(event.json_text)
