"""The relay's adapter over the RTMP publisher: URLs, reasons without keys, refusals."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from media.rtmp.errors import ConnectionClosedError, RefusedError
from media.rtmp.server_session import PublishRequested, ServerSession
from relay.connection import RtmpConnection, publish_url, reason
from relay.errors import KeyRefused, PublishFailed
from relay.presets import Endpoint

KEY = "abcd-efgh-ijkl-mnop"


@pytest.mark.parametrize(("url", "expected"), [
    ("rtmp://a.rtmp.youtube.com/live2", f"rtmp://a.rtmp.youtube.com:1935/live2/{KEY}"),
    ("rtmps://a.rtmps.youtube.com:443/live2", f"rtmps://a.rtmps.youtube.com:443/live2/{KEY}"),
    ("rtmp://b.rtmp.youtube.com/live2?backup=1", f"rtmp://b.rtmp.youtube.com:1935/live2/{KEY}?backup=1"),
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


async def _serve(decide: str) -> tuple[asyncio.Server, int]:
    """Our own RTMP server core on a socket, accepting or refusing any key."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ServerSession()
        while data := await reader.read(65536):
            for event in session.receive_data(data):
                if isinstance(event, PublishRequested):
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
            await RtmpConnection.open(Endpoint.parse(f"rtmp://127.0.0.1:{port}/live"), KEY)
    assert "NetStream.Publish.BadName" in caught.value.reason and KEY not in caught.value.reason
    assert "****mnop" in caught.value.reason


async def test_unreachable_is_worth_retrying() -> None:
    server, port = await _serve("accept")
    server.close()
    await server.wait_closed()
    with pytest.raises(PublishFailed) as caught:
        await RtmpConnection.open(Endpoint.parse(f"rtmp://127.0.0.1:{port}/live"), KEY, timeout=2)
    assert caught.value.retry and not isinstance(caught.value, KeyRefused)
