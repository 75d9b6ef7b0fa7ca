"""The HTTP guard: slow request heads and bodies are cut, connections are capped per address.

The integration tests talk raw bytes over real loopback sockets to ``notalabel serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server.config import Settings
from server.httpguard import (
    AiohttpShapeChanged,
    ConnectionCaps,
    GuardedSite,
    address_key,
    check_aiohttp,
    setup,
)
from server.keys import SETTINGS
from tests.support.servers import free_port

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def test_the_startup_check_passes_on_the_installed_aiohttp() -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        check_aiohttp(runner)
    finally:
        await runner.cleanup()


async def test_the_startup_check_fails_loudly_on_another_shape() -> None:
    class NotARunner:
        server = staticmethod(lambda: object())

    with pytest.raises(AiohttpShapeChanged, match="httpguard.py needs updating"):
        check_aiohttp(NotARunner())  # type: ignore[arg-type]


def test_addresses_are_counted_per_ipv4_and_per_ipv6_64() -> None:
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::7") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_key("fe80::1%eth0") == "fe80::/64"


def test_caps_per_address_and_in_all() -> None:
    caps = ConnectionCaps(per_address=2, total=3)
    assert caps.admit("a") is None and caps.admit("a") is None
    assert caps.admit("a") == "http_connections_per_address"
    assert caps.admit("b") is None
    assert caps.admit("c") == "http_connections_total"
    caps.release("a")
    assert caps.admit("a") is None
    for key in ("a", "a", "b"):
        caps.release(key)
    assert caps.open == {} and caps.count == 0
    assert ConnectionCaps(0, 0).admit("x") is None


async def _metric(http: aiohttp.ClientSession, url: str, reason: str) -> float:
    text = await (await http.get(url + "/metrics")).text()
    for line in text.splitlines():
        if line.startswith(f'nal_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_dribbled_request_head_is_cut_and_normal_requests_still_work(server_process: Any) -> None:
    srv = server_process(http_header_timeout_s=1, http_body_timeout_s=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.http_port)
    writer.write(HEAD)
    peek = asyncio.ensure_future(reader.read())  # the whole answer, then the end of the stream
    sent = 0
    while not peek.done() and sent < 600:  # one header line every 0.2 s: never a complete head
        writer.write(b"X-Slow: %d\r\n" % sent)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        sent += 1
        await asyncio.wait([peek], timeout=0.2)
    raw = await asyncio.wait_for(peek, timeout=60)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 408 "), raw
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"] == "request_timeout"
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            r = await http.get(srv.url + "/healthz")
            assert r.status == 200
        assert await _metric(http, srv.url, "http_header_timeout") >= 1


async def test_a_dribbled_request_body_is_cut_with_a_json_408(server_process: Any) -> None:
    srv = server_process(http_header_timeout_s=1, http_body_timeout_s=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.http_port)
    writer.write(b"POST /api/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 200\r\n\r\n{")
    peek = asyncio.ensure_future(reader.read())
    sent = 0
    while not peek.done() and sent < 199:  # one body byte every 0.2 s
        writer.write(b" ")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        sent += 1
        await asyncio.wait([peek], timeout=0.2)
    raw = await asyncio.wait_for(peek, timeout=60)
    writer.close()
    assert sent < 199, "the server waited for the whole dribbled body"
    assert raw.startswith(b"HTTP/1.1 408 "), raw
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"] == "request_timeout"
    async with aiohttp.ClientSession() as http:
        r = await http.post(srv.url + "/api/accounts", json={"username": "quick", "password": "correct horse"})
        assert r.status == 201
        assert await _metric(http, srv.url, "http_body_timeout") >= 1


async def test_connections_over_the_per_address_cap_are_refused(server_process: Any) -> None:
    srv = server_process(http_conns_per_address=2)
    held = [await asyncio.open_connection("127.0.0.1", srv.http_port) for _ in range(2)]
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.http_port)
    raw = await asyncio.wait_for(reader.read(), timeout=60)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 429 "), raw
    assert b"Retry-After: 5" in raw
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"] == "too_many_connections"
    # A held connection still works, and once one closes a new one is let in.
    reader0, writer0 = held[0]
    writer0.write(HEAD + b"Connection: close\r\n\r\n")
    assert (await asyncio.wait_for(reader0.read(), timeout=60)).startswith(b"HTTP/1.1 200 ")
    writer0.close()
    async with aiohttp.ClientSession() as http:
        status = 0
        for _ in range(600):  # the server counts the closed one down as soon as it sees the close
            with contextlib.suppress(aiohttp.ClientError):
                status = (await http.get(srv.url + "/healthz")).status
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200
        assert await _metric(http, srv.url, "http_connections_per_address") >= 1
    for _, w in held[1:]:
        w.close()


async def test_a_head_sent_in_time_is_served_even_when_the_handler_starts_late() -> None:
    """A loaded server may start a request's handler after the head deadline although the
    head arrived at once: the deadline is about the client, so the request is served. The
    outer middleware holds the request past the deadline, as a busy event loop would."""
    @web.middleware
    async def busy(request: web.Request, handler: Any) -> web.StreamResponse:
        await asyncio.sleep(1.2)
        response: web.StreamResponse = await handler(request)
        return response

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="served")

    settings = Settings(http=f"127.0.0.1:{free_port()}", http_header_timeout_s=0.4, http_body_timeout_s=5)
    app = web.Application(middlewares=[busy])
    app[SETTINGS] = settings
    setup(app)
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = GuardedSite(runner, settings)
    await site.start()
    try:
        host, port = settings.http_bind
        for chunks in ([b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"],  # one write
                       [b"GET /hello HTTP/1.1\r\nHost: x\r\n\r", b"\n"]):  # the blank line split
            reader, writer = await asyncio.open_connection(host, port)
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.05)
            status = await asyncio.wait_for(reader.readline(), 30)
            assert status.startswith(b"HTTP/1.1 200"), status
            writer.close()
        # A head that never completes is still cut at the deadline.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 30)
        assert status.startswith(b"HTTP/1.1 408"), status
        writer.close()
    finally:
        await runner.cleanup()
