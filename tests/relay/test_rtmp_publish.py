"""The client publishing flow, Sans-I/O, against our own RTMP server core (byte for byte),
fed whole and one byte at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from media.rtmp.flvfile import FlvFileReader
from media.rtmp.server_session import PublishRequested, ServerSession
from media.rtmp.units import MediaUnit
from relay.errors import PublishFailed
from relay.presets import Endpoint
from relay.remux import Tag
from relay.rtmp_publish import Accepted, PublishSession, Refused, State

KEY = "sekret-stream-key-123"
DATA = Path(__file__).parents[1] / "data" / "rtmp" / "h264_aac_1s.flv"


def _pump(client: PublishSession, server: ServerSession, first: bytes, step: int | None,
          decide: str = "accept") -> tuple[list[Any], list[Any]]:
    client_events: list[Any] = []
    server_events: list[Any] = []
    to_server = first
    for _ in range(100):
        for i in range(0, len(to_server), step or max(1, len(to_server))):
            for event in server.receive_data(to_server[i:i + (step or len(to_server))]):
                server_events.append(event)
                if isinstance(event, PublishRequested):
                    if decide == "accept":
                        server_events += server.accept_publish()
                    else:
                        server.reject_publish("NetStream.Publish.BadName", f"bad key {event.stream_key}")
        to_client = server.data_to_send()
        for i in range(0, len(to_client), step or max(1, len(to_client))):
            client_events += client.receive_data(to_client[i:i + (step or len(to_client))])
        to_server = client.data_to_send()
        if not to_server and not to_client:
            break
    return client_events, server_events


@pytest.mark.parametrize("step", [None, 1, 7])
def test_publish_accepted_then_media_flows(step: int | None) -> None:
    client = PublishSession(Endpoint.parse("rtmp://ingest.example/live2"), KEY)
    server = ServerSession()
    client_events, server_events = _pump(client, server, client.start(), step)
    assert client_events == [Accepted()] and client.state is State.LIVE
    published = [e for e in server_events if isinstance(e, PublishRequested)]
    assert published[0].app == "live2" and published[0].stream_key == KEY
    sequence_header = next(t.body for t in FlvFileReader().feed(DATA.read_bytes()) if t.tag_type == 9)
    client.send_tag(Tag(9, 0, sequence_header))
    client.send_tag(Tag(9, 33, bytes([0x17, 1, 0, 0, 0]) + b"\x00\x00\x00\x02\x65\x88"))
    events = server.receive_data(client.data_to_send())
    units = [e for e in events if isinstance(e, MediaUnit)]
    assert len(units) == 1 and units[0].keyframe and units[0].dts_ms == 33
    assert KEY not in repr(client)


def test_refusal_carries_code_and_masks_the_key() -> None:
    client = PublishSession(Endpoint.parse("rtmp://ingest.example/live2"), KEY)
    client_events, _ = _pump(client, ServerSession(), client.start(), None, decide="reject")
    assert client_events == [Refused("NetStream.Publish.BadName", "bad key ****-123")]
    assert client.state is State.CLOSED
    with pytest.raises(PublishFailed):
        client.send_tag(Tag(8, 0, b"\xaf\x01\x00"))


def test_garbage_from_the_server_is_a_publish_failure() -> None:
    client = PublishSession(Endpoint.parse("rtmp://ingest.example/live2"), KEY)
    client.start()
    with pytest.raises(PublishFailed):
        client.receive_data(b"\x09" + bytes(3072))
