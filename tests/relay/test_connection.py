"""The relay's adapter over the RTMP publisher: URLs, reasons without keys, refusals, and
the destination policy applied to what the host resolves to (against real loopback peers)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from prometheus_client import REGISTRY

from media.rtmp.errors import ConnectionClosedError, RefusedError
from media.rtmp.server_session import PublishRequested, ServerSession
from relay.connection import RtmpConnection, publish_url, reason
from relay.destination import DestinationPolicy, Listener
from relay.errors import DestinationRefused, KeyRefused, PublishFailed
from relay.presets import Endpoint

KEY = "abcd-efgh-ijkl-mnop"
LOCAL = DestinationPolicy(allow_private=True)  # the tests' peers live on loopback


def refused(stage: str, rule: str) -> float:
    return REGISTRY.get_sample_value("nal_relay_destination_refused_total", {"stage": stage, "rule": rule}) or 0.0


@pytest.mark.parametrize(("url", "expected"), [
    ("rtmp://a.rtmp.youtube.com/live2", f"rtmp://a.rtmp.youtube.com:1935/live2/{KEY}"),
    ("rtmps://a.rtmps.youtube.com:443/live2", f"rtmps://a.rtmps.youtube.com:443/live2/{KEY}"),
    ("rtmp://b.rtmp.youtube.com/live2?backup=1", f"rtmp://b.rtmp.youtube.com:1935/live2/{KEY}?backup=1"),
    ("rtmp://[2001:4860::8888]/live", f"rtmp://[2001:4860::8888]:1935/live/{KEY}"),
])
def test_publish_url(url: str, expected: str) -> None:
    assert publish_url(Endpoint.parse(url), KEY) == expected


@pytest.mark.parametrize("err", [
    RefusedError("NetStream.Publish.BadName", f"stream {KEY} is not allowed"),
    ConnectionClosedError(f"publisher failed for {KEY}"),
    OSError(f"weird {KEY}"),
    ssl.SSLError(1, f"bad cert for {KEY}"),
])
def test_reasons_never_carry_the_key(err: BaseException) -> None:
    text = reason(err, KEY)
    assert KEY not in text and text


async def _serve(decide: str, published: list[str] | None = None) -> tuple[asyncio.Server, int]:
    """Our own RTMP server core on a socket, accepting or refusing any key; the keys asked
    for go to ``published``."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ServerSession()
        while data := await reader.read(65536):
            for event in session.receive_data(data):
                if isinstance(event, PublishRequested):
                    if published is not None:
                        published.append(event.stream_key)
                    if decide == "accept":
                        session.accept_publish()
                    else:
                        session.reject_publish("NetStream.Publish.BadName", f"no such key {event.stream_key}")
            writer.write(session.data_to_send())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_refused_by_status_is_key_refused_with_masked_reason() -> None:
    server, port = await _serve("reject")
    async with server:
        with pytest.raises(KeyRefused) as caught:
            await RtmpConnection.open(Endpoint.parse(f"rtmp://127.0.0.1:{port}/live"), KEY, policy=LOCAL)
    assert "NetStream.Publish.BadName" in caught.value.reason and KEY not in caught.value.reason
    assert "****mnop" in caught.value.reason


async def test_unreachable_is_worth_retrying() -> None:
    server, port = await _serve("accept")
    server.close()
    await server.wait_closed()
    with pytest.raises(PublishFailed) as caught:
        await RtmpConnection.open(Endpoint.parse(f"rtmp://127.0.0.1:{port}/live"), KEY, policy=LOCAL, timeout=2)
    assert caught.value.retry and not isinstance(caught.value, KeyRefused)
    assert caught.value.reason == "could not connect"


class Counting:
    """A TCP listener on loopback that counts connections and either closes them at once
    (an open port that is not RTMP) or never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, answer: bool = True) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            if answer:
                writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_an_open_port_and_a_closed_one_read_the_same() -> None:
    """The owner cannot map ports through the status: both say only "could not connect"."""
    listener = Counting()
    open_port = await listener.start()
    closed = Counting()
    closed_port = await closed.start()
    await closed.stop()
    reasons = []
    try:
        for port in (open_port, closed_port):
            with pytest.raises(PublishFailed) as caught:
                await RtmpConnection.open(Endpoint.parse(f"rtmp://127.0.0.1:{port}/live"), KEY, policy=LOCAL, timeout=2)
            reasons.append(caught.value.reason)
    finally:
        await listener.stop()
    assert listener.connections == 1
    assert reasons == ["could not connect", "could not connect"]


@pytest.mark.parametrize(("policy_of", "rule"), [
    (lambda port: DestinationPolicy(), "loopback"),
    (lambda port: DestinationPolicy(allow_private=True, listeners=(Listener("127.0.0.1", port),)), "own_listener"),
    (lambda port: DestinationPolicy(allow_private=True, listeners=(Listener("0.0.0.0", port),)), "own_listener"),
    (lambda port: DestinationPolicy(allow_private=True, listeners=(Listener("::", port),)), "own_listener"),
])
async def test_a_name_resolving_to_a_refused_address_is_never_connected(policy_of: Any, rule: str) -> None:
    """``localhost`` passes every check on the URL; what it resolves to is refused before connecting."""
    listener = Counting()
    port = await listener.start()
    before = refused("connect", rule)
    try:
        with pytest.raises(DestinationRefused) as caught:
            await RtmpConnection.open(Endpoint.parse(f"rtmp://localhost:{port}/live"), KEY, policy=policy_of(port))
    finally:
        await listener.stop()
    assert listener.connections == 0
    assert caught.value.reason == "destination not allowed" and not caught.value.retry
    assert caught.value.rule == rule
    assert refused("connect", rule) == before + 1


async def test_another_port_on_loopback_is_allowed_with_allow_private() -> None:
    published: list[str] = []
    server, port = await _serve("accept", published)
    policy = DestinationPolicy(allow_private=True, listeners=(Listener("127.0.0.1", port + 1),))
    async with server:
        conn = await RtmpConnection.open(Endpoint.parse(f"rtmp://localhost:{port}/live"), KEY, policy=policy)
        await conn.close()
    assert published == [KEY]  # the connection reached the loopback server and published
