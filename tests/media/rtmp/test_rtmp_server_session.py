"""The server command flow, Sans-I/O, driven by bytes captured from a real ffmpeg publish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtmp import amf0
from media.rtmp.chunk import ChunkDecoder, ChunkEncoder, Message
from media.rtmp.commands import Command, DataMessage
from media.rtmp.control import UserControl, UserControlEvent, parse_control
from media.rtmp.errors import BufferLimitExceeded, CommandError, InvalidStateError, ProtocolError
from media.rtmp.handshake import SIG_SIZE
from media.rtmp.limits import Limits
from media.rtmp.server_session import (
    TRANSITIONS,
    Connected,
    PublishRequested,
    ServerSession,
    State,
    Unpublished,
)
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig

CAPTURE = (Path(__file__).parents[2] / "data" / "rtmp" / "ffmpeg_publish_client.bin").read_bytes()
HANDSHAKE = b"\x03" + bytes(2 * SIG_SIZE)


class Peer:
    """Decodes what the session sends back."""

    def __init__(self) -> None:
        self.handshake = b""
        self.decoder = ChunkDecoder()

    def read(self, data: bytes) -> list[Any]:
        need = 1 + 2 * SIG_SIZE - len(self.handshake)
        self.handshake += data[:need]
        out: list[Any] = []
        for m in self.decoder.feed(data[need:] if need > 0 else data):
            if m.type_id in (1, 2, 3, 4, 5, 6):
                out.append(parse_control(m.type_id, m.payload))
            elif m.type_id == 20:
                out.append((m.stream_id, Command.parse(20, m.payload)))
        return out


def run_capture(step: int, accept: bool = True) -> tuple[list[Any], list[Any]]:
    session = ServerSession(random_bytes=bytes)
    peer = Peer()
    events: list[Any] = []
    replies: list[Any] = []
    for i in range(0, len(CAPTURE), step):
        new = session.receive_data(CAPTURE[i : i + step])
        for ev in new:
            events.append(ev)
            if isinstance(ev, PublishRequested):
                events += session.accept_publish() if accept else []
                if not accept:
                    session.reject_publish()
        replies += peer.read(session.data_to_send())
    return events, replies


def test_ffmpeg_capture_whole_gives_the_full_flow() -> None:
    events, replies = run_capture(len(CAPTURE))
    assert events[0] == Connected("live", events[0].tc_url, "FMLE/3.0 (compatible; Lavf59.27.100)")
    assert events[1] == PublishRequested("live", "capturekey", 1, "live")
    assert isinstance(events[2], Metadata) and events[2].values["width"] == 160.0
    kinds = [type(e) for e in events]
    assert VideoConfig in kinds and AudioConfig in kinds
    video = [e for e in events if isinstance(e, MediaUnit) and e.track == "video"]
    audio = [e for e in events if isinstance(e, MediaUnit) and e.track == "audio"]
    assert len(video) == 15 and video[0].keyframe and sum(v.keyframe for v in video) == 2
    assert all(v.pts_ms >= v.dts_ms for v in video)
    assert [v.dts_ms for v in video] == sorted(v.dts_ms for v in video)
    assert len(audio) > 10
    assert events[-1] == Unpublished("capturekey")
    codes = [
        r[1].arguments[0]["code"]
        for r in replies
        if isinstance(r, tuple) and r[1].arguments and isinstance(r[1].arguments[0], dict)
    ]
    assert codes[:1] == ["NetConnection.Connect.Success"]
    assert "NetStream.Publish.Start" in codes and codes[-1] == "NetStream.Unpublish.Success"
    assert UserControl(UserControlEvent.STREAM_BEGIN, 1) in replies


def test_ffmpeg_capture_byte_at_a_time_is_every_prefix() -> None:
    """Each byte fed is one more truncation point: events so far are always a prefix."""
    whole, replies = run_capture(len(CAPTURE))
    bytewise, replies1 = run_capture(1)
    assert bytewise == whole and replies1 == replies


def test_wrong_key_gets_bad_name_and_nothing_more() -> None:
    events, replies = run_capture(len(CAPTURE), accept=False)
    assert [type(e) for e in events] == [Connected, PublishRequested]
    statuses = [r[1] for r in replies if isinstance(r, tuple) and r[1].name == "onStatus"]
    assert len(statuses) == 1
    info = statuses[0].arguments[0]
    assert (info["level"], info["code"]) == ("error", "NetStream.Publish.BadName")
    assert statuses[0].command_object is None and statuses[0].transaction_id == 0.0


def test_connect_answer_literal() -> None:
    session = ServerSession(random_bytes=bytes, chunk_size=4096)
    session.receive_data(HANDSHAKE[:1] + bytes(SIG_SIZE) + bytes(SIG_SIZE))
    session.data_to_send()
    connect = Command("connect", 1.0, {"app": "live/", "tcUrl": "rtmp://h/live"})
    enc = ChunkEncoder()
    assert session.receive_data(enc.encode(Message(3, 20, 0, 0, connect.serialize()))) == [
        Connected("live", "rtmp://h/live", "")
    ]
    out = session.data_to_send()
    H = bytes.fromhex
    result = amf0.encode_all(
        "_result",
        1.0,
        {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
        {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 0.0,
        },
    )
    expected = (
        H("02 000000 000004 05 00000000 002625a0")
        + H("42 000000 000005 06 002625a0 02")
        + H("42 000000 000004 01 00001000")
        + H("03 000000")
        + len(result).to_bytes(3, "big")
        + H("14 00000000")
        + result
    )
    assert out == expected


def _connected() -> tuple[ServerSession, ChunkEncoder]:
    session = ServerSession(random_bytes=bytes)
    session.receive_data(HANDSHAKE)
    enc = ChunkEncoder()
    session.receive_data(enc.encode(Message(3, 20, 0, 0, Command("connect", 1.0, {}).serialize())))
    return session, enc


def _cmd(enc: ChunkEncoder, command: Command, stream_id: int = 0) -> bytes:
    return enc.encode(Message(3 if stream_id == 0 else 8, 20, stream_id, 0, command.serialize()))


def test_illegal_transitions_are_named() -> None:
    session = ServerSession(random_bytes=bytes)
    session.receive_data(HANDSHAKE)
    with pytest.raises(CommandError):
        session.receive_data(_cmd(ChunkEncoder(), Command("publish", 5.0, None, ("k",))))
    session, enc = _connected()
    with pytest.raises(CommandError, match="never created"):
        session.receive_data(_cmd(enc, Command("publish", 5.0, None, ("k",)), stream_id=1))
    session, enc = _connected()
    with pytest.raises(InvalidStateError):
        session.accept_publish()
    with pytest.raises(CommandError):
        session.receive_data(_cmd(enc, Command("connect", 1.0, {})))
    assert (State.CONNECTED, Input_publish()) in TRANSITIONS


def Input_publish() -> Any:
    from media.rtmp.server_session import Input

    return Input.PUBLISH


def test_unknown_commands_are_ignored_and_media_after_unpublish_skipped() -> None:
    session, enc = _connected()
    assert session.receive_data(_cmd(enc, Command("_checkbw", 2.0))) == []
    session.receive_data(_cmd(enc, Command("createStream", 3.0)))
    events = session.receive_data(_cmd(enc, Command("publish", 4.0, None, ("k?x=1", "live")), 1))
    assert events == [PublishRequested("", "k", 1, "live")]
    session.accept_publish()
    assert session.receive_data(_cmd(enc, Command("FCUnpublish", 5.0, None, ("k",)))) == [
        Unpublished("k")
    ]
    video = enc.encode(Message(6, 9, 1, 0, bytes.fromhex("1701000000 00000001 65")))
    assert session.receive_data(video) == [] and session.skipped_media == 1


def test_pipelined_messages_are_held_until_accept() -> None:
    session, enc = _connected()
    session.receive_data(_cmd(enc, Command("createStream", 2.0)))
    meta = DataMessage("@setDataFrame", ("onMetaData", amf0.EcmaArray(width=1.0)))
    burst = _cmd(enc, Command("publish", 3.0, None, ("k",)), 1)
    burst += enc.encode(Message(5, 18, 1, 0, meta.serialize()))
    assert session.receive_data(burst) == [PublishRequested("", "k", 1, "live")]
    assert session.accept_publish() == [Metadata({"width": 1.0})]


def test_held_bytes_are_capped() -> None:
    session = ServerSession(Limits(max_inflight_bytes=100), random_bytes=bytes)
    session.receive_data(HANDSHAKE)
    enc = ChunkEncoder()
    session.receive_data(_cmd(enc, Command("connect", 1.0, {})))
    session.receive_data(_cmd(enc, Command("createStream", 2.0)))
    session.receive_data(_cmd(enc, Command("publish", 3.0, None, ("k",)), 1))
    with pytest.raises(BufferLimitExceeded):
        for _ in range(5):
            session.receive_data(enc.encode(Message(6, 9, 1, 0, bytes(60))))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3999), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(16, 700),
)
def test_fuzz_mutated_ffmpeg_capture_only_named_errors(
    mutations: list[tuple[int, int]], step: int
) -> None:
    data = bytearray(CAPTURE[: 1 + 2 * SIG_SIZE + 4000])
    for offset, value in mutations:
        data[1 + 2 * SIG_SIZE + offset] = value
    session = ServerSession(random_bytes=bytes)
    try:
        for i in range(0, len(data), step):
            for ev in session.receive_data(bytes(data[i : i + step])):
                if isinstance(ev, PublishRequested):
                    session.accept_publish()
            assert session.buffered <= 2 * 64 * 1024
    except ProtocolError:
        pass


def test_ping_is_answered_and_acknowledgements_follow_the_window() -> None:
    from media.rtmp.control import Acknowledgement, WindowAckSize, control_message

    session, enc = _connected()
    peer = Peer()
    peer.read(session.data_to_send())
    ping = control_message(UserControl(UserControlEvent.PING_REQUEST, 1234))
    session.receive_data(enc.encode(ping))
    assert peer.read(session.data_to_send()) == [UserControl(UserControlEvent.PING_RESPONSE, 1234)]
    session.receive_data(enc.encode(control_message(WindowAckSize(1000))))
    session.receive_data(_cmd(enc, Command("_checkbw", 0.0, None, ("x" * 1000,))))
    acks = peer.read(session.data_to_send())
    assert acks == [Acknowledgement(session.decoder.bytes_received)]
