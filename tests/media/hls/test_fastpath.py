"""The LL-HLS fast path gives the aiohttp handler's answers, byte for byte (but the date).

One hub and one app; two listeners: aiohttp's own, and one whose connections start on the
fast path (media.hls.fastpath). The same raw HTTP/1.1 requests go to both, on keep-alive
connections, and the answers are compared: status, every header but ``Date``, and body.
Requests the fast path does not answer itself (errors, other paths, other methods) are
handed to aiohttp with the rest of their connection, so they match too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from media.hls.edge import HlsEdge
from media.hls.fastpath import FastConnection, LivePath, parse_head
from media.hls.http import setup_routes
from media.hls.segmenter import SegmenterConfig
from media.hls.service import PlaylistAsked
from media.hub import Hub
from media.units import CLOCK_RATE
from tests.media.hls.sources import Source
from tests.support.servers import bound_socket

GOOD = "good-token"
KEEPALIVE_S = 1.0
GATED = {"paid"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """One keep-alive connection, raw HTTP/1.1, Content-Length answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, target: str, *headers: str, method: str = "GET") -> Answer:
        lines = [f"{method} {target} HTTP/1.1", "Host: test", *headers]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await self.answer(method)

    async def answer(self, method: str = "GET") -> Answer:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length)
        return Answer(int(status_line.split()[1]), headers, body)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Pair:
    hub: Hub
    slow_port: int
    fast_port: int
    asked: list[PlaylistAsked]

    async def clients(self) -> tuple[Client, Client]:
        slow = Client(*await asyncio.open_connection("127.0.0.1", self.slow_port))
        fast = Client(*await asyncio.open_connection("127.0.0.1", self.fast_port))
        return slow, fast


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    hub = Hub(reconnect_grace=10.0)
    app = web.Application()
    asked: list[PlaylistAsked] = []

    async def room_exists(slug: str) -> bool:
        return slug in {"room", "other", "paid"}

    async def access(slug: str, tokens: tuple[str, ...]) -> str | Literal[False] | None:
        await asyncio.sleep(0)  # as a gate that reads a cache or a store would
        if slug not in GATED:
            return None
        return GOOD if GOOD in tokens else False

    def access_now(slug: str, tokens: tuple[str, ...]) -> tuple[bool, str | Literal[False] | None]:
        return (False, None) if "ask" in tokens else (True, None if slug not in GATED else
                                                        GOOD if GOOD in tokens else False)

    service = setup_routes(app, hub, room_exists, config=SegmenterConfig(window=12), access=access)
    service.on_playlist = asked.append
    live = LivePath(service, access=access, access_now=access_now, keepalive_s=KEEPALIVE_S)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.server is not None
    make_aiohttp = runner.server
    fast = await asyncio.get_running_loop().create_server(lambda: live.protocol(make_aiohttp), "127.0.0.1", 0)
    try:
        yield Pair(hub, runner.addresses[0][1], fast.sockets[0].getsockname()[1], asked)
    finally:
        fast.close()
        hub.close()
        await runner.cleanup()


def same(slow: Answer, fast: Answer, what: str) -> None:
    slow.headers.pop("date"), fast.headers.pop("date")
    assert (fast.status, fast.headers, fast.body) == (slow.status, slow.headers, slow.body), what


async def both(pair: Pair, clients: tuple[Client, Client], target: str, *headers: str,
               method: str = "GET") -> Answer:
    slow, fast = await asyncio.gather(clients[0].get(target, *headers, method=method),
                                      clients[1].get(target, *headers, method=method))
    same(slow, fast, f"{method} {target} {headers}")
    return fast


def feed(pair: Pair, source: Source, slug: str, seconds: float) -> Callable[[float], None]:
    stream = pair.hub.start_publish(slug, "test", source.tracks)
    units = iter(source.units)
    pending: list = []  # type: ignore[type-arg]

    def until(cut: float) -> None:
        while pending and pending[0].dts < cut * CLOCK_RATE:
            stream.write(pending.pop(0))
        for unit in units:
            if unit.dts >= cut * CLOCK_RATE:
                pending.append(unit)
                return
            stream.write(unit)

    until(seconds)
    return until


def names_in(text: str) -> list[str]:
    return re.findall(r'URI="([^"?]+)', text) + re.findall(r"^([^#\s?]+\.m4s)", text, re.M)


async def test_every_answer_matches_the_handler(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "room", 10.0)
    await asyncio.sleep(0.05)
    clients = await pair.clients()
    try:
        playlist = await both(pair, clients, "/live/room/index.m3u8")
        assert playlist.status == 200
        text = playlist.body.decode()
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        assert hint is not None
        for name in names_in(text):
            if name != hint[1]:
                answer = await both(pair, clients, f"/live/room/{name}")
                assert answer.status == 200 and answer.body[4:8] in (b"ftyp", b"moof"), name
        last = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
        prefix = names_in(text)[0].split("-")[0]
        for target in (
            "/live/room/init.mp4", f"/live/room/index.m3u8?_HLS_msn={last}", f"/live/room/index.m3u8?_HLS_msn={last}&_HLS_part=0",
            f"/live/room/index.m3u8?_HLS_msn={last}&x=1&_HLS_part=1",
            f"/live/room/index.m3u8?_HLS_msn={last + 9}", "/live/room/index.m3u8?_HLS_part=1",
            "/live/room/index.m3u8?_HLS_msn=x", "/live/room/index.m3u8?_HLS_msn=%C2%B2",
            f"/live/room/index.m3u8?_HLS_msn={last}&_HLS_part=%D9%A3", "/live/room/seg-1.m4s", "/live/room/zz-seg-1.m4s",
            f"/live/room/{prefix}-seg-999.m4s", f"/live/room/{prefix}-part-{last}-99.m4s", "/live/room/x.ts",
            "/live/nope/index.m3u8", "/live/other/index.m3u8", "/live/room/index.m3u8",
        ):
            await both(pair, clients, target)
        for headers in (("Connection: keep-alive",), ("User-Agent: Mozilla/5.0", "Accept: */*",
                                                      "Connection: Keep-Alive", "X-Request-Id: abcdefgh12")):
            answer = await both(pair, clients, "/live/room/index.m3u8", *headers)
            assert answer.status == 200
        await both(pair, clients, "/live/room/index.m3u8", method="HEAD")
        await both(pair, clients, "/live/room/index.m3u8")  # after aiohttp took the connection
    finally:
        for client in clients:
            client.close()


async def test_blocking_reload_and_hinted_part_wait_on_both(
    pair: Pair, make_source: Callable[..., Source]
) -> None:
    until = feed(pair, make_source("720p30-12s", seconds=12), "room", 6.4)
    await asyncio.sleep(0.05)
    clients = await pair.clients()
    try:
        text = (await both(pair, clients, "/live/room/index.m3u8")).body.decode()
        last = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        assert hint is not None
        waiting = asyncio.ensure_future(both(pair, clients, f"/live/room/{hint[1]}"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # neither answers a part that is not written yet
        until(6.9)
        assert (await waiting).status == 200
        target = f"/live/room/index.m3u8?_HLS_msn={last + 2}&_HLS_part=0"
        waiting = asyncio.ensure_future(both(pair, clients, target))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        until(9.4)
        answer = await waiting
        assert answer.status == 200 and f"part-{last + 2}-0.m4s" in answer.body.decode()
        assert answer.headers["cache-control"].startswith("public, max-age=")
    finally:
        for client in clients:
            client.close()


async def test_a_blocking_reload_that_times_out_is_503_on_both(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "room", 6.0)
    await asyncio.sleep(0.05)
    clients = await pair.clients()
    try:
        text = (await both(pair, clients, "/live/room/index.m3u8")).body.decode()
        last = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
        answer = await both(pair, clients, f"/live/room/index.m3u8?_HLS_msn={last + 2}")
        assert answer.status == 503 and answer.headers["retry-after"] == "1"
        await both(pair, clients, "/live/room/index.m3u8")
    finally:
        for client in clients:
            client.close()


async def test_gated_room_answers_match(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "paid", 10.0)
    await asyncio.sleep(0.05)
    clients = await pair.clients()
    try:
        refused = await both(pair, clients, "/live/paid/index.m3u8")
        assert refused.status == 403
        for token in ("forged", f"{GOOD}x"):
            assert (await both(pair, clients, f"/live/paid/index.m3u8?vt={token}")).status == 403
        playlist = await both(pair, clients, f"/live/paid/index.m3u8?vt={GOOD}")
        assert playlist.status == 200 and playlist.headers["cache-control"] == "private, max-age=1"
        text = playlist.body.decode()
        uris = re.findall(r'URI="([^"]+)"', text) + re.findall(r"^([^#\s]+)$", text, re.M)
        assert uris and all(uri.endswith(f"?vt={GOOD}") for uri in uris)
        part = names_in(text)[1]
        for target, headers in ((f"/live/paid/{part}", ()), (f"/live/paid/{part}?vt=ask", ()),
                                (f"/live/paid/{part}", (f"Cookie: a=b; nal_vt={GOOD}",)),
                                ("/live/paid/init.mp4", (f"Cookie: nal_vt={GOOD}",)),
                                ("/live/paid/index.m3u8?vt=ask", (f"Cookie: nal_vt={GOOD}",))):
            answer = await both(pair, clients, target, *headers)
            assert answer.status == (200 if headers else 403), (target, headers)
        # a part: both ask the gate that needs I/O once, then serve
        answer = await both(pair, clients, f"/live/paid/{part}?vt={GOOD}", "Cookie: nal_vt=ask")
        assert answer.status == 200 and answer.headers["cache-control"] == "private, max-age=31536000, immutable"
    finally:
        for client in clients:
            client.close()
    slow_seen = [a for a in pair.asked if a.slug == "paid"]
    assert len(slow_seen) == 4 and all(a.token == GOOD for a in slow_seen)


async def test_a_token_in_the_path_is_honoured_and_the_playlist_lists_relative_uris(
        pair: Pair, av_720p30: Source) -> None:
    """``/live/{slug}/vt/{token}/{name}``: the token of the address, on both paths; the
    playlist there is the room's as it is (its relative URIs resolve under the token)."""
    feed(pair, av_720p30, "paid", 10.0)
    feed(pair, av_720p30, "room", 10.0)
    await asyncio.sleep(0.05)
    clients = await pair.clients()
    try:
        for token in ("forged", f"{GOOD}x"):
            assert (await both(pair, clients, f"/live/paid/vt/{token}/index.m3u8")).status == 403
        playlist = await both(pair, clients, f"/live/paid/vt/{GOOD}/index.m3u8")
        assert playlist.status == 200 and playlist.headers["cache-control"] == "private, max-age=1"
        text = playlist.body.decode()
        assert "?vt=" not in text and "vt/" not in text
        free = await both(pair, clients, "/live/room/vt/anything/index.m3u8")  # a free room: the token is not asked
        assert free.status == 200 and free.headers["cache-control"] == "public, max-age=1"
        part = names_in(text)[1]
        for target, headers, status in ((f"/live/paid/vt/{GOOD}/{part}", (), 200),
                                        (f"/live/paid/vt/{GOOD}/init.mp4", (), 200),
                                        (f"/live/paid/vt/forged/{part}", (), 403),
                                        (f"/live/paid/vt/forged/{part}", (f"Cookie: nal_vt={GOOD}",), 200),
                                        (f"/live/paid/vt/forged/{part}?vt={GOOD}", (), 200),
                                        ("/live/paid/vt/expired/index.m3u8", (f"Cookie: nal_vt={GOOD}",), 200),
                                        (f"/live/paid/vt/{GOOD}/{part}?_x=%41", (), 200),  # aiohttp's, then
                                        (f"/live/paid/vt/ask/{part}", (f"Cookie: nal_vt={GOOD}",), 200)):
            answer = await both(pair, clients, target, *headers)
            assert answer.status == status, (target, headers)
        listed = await both(pair, clients, "/live/paid/vt/expired/index.m3u8", f"Cookie: nal_vt={GOOD}")
        assert "?vt=" not in listed.body.decode()  # the cookie's token holds, the URIs stay relative
    finally:
        for client in clients:
            client.close()
    seen = [a for a in pair.asked if a.slug == "paid"]
    assert len(seen) == 6 and all(a.token == GOOD for a in seen)


async def test_pipelined_requests_are_answered_in_order(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "room", 6.0)
    await asyncio.sleep(0.05)
    _slow, fast = await pair.clients()
    _slow.close()
    try:
        text = (await fast.get("/live/room/index.m3u8")).body.decode()
        names = [n for n in names_in(text) if "part-" in n][:3]
        heads = [f"GET /live/room/{n} HTTP/1.1\r\nHost: t\r\n\r\n" for n in names]
        heads.insert(1, "GET /live/room/nope.m4s HTTP/1.1\r\nHost: t\r\n\r\n")
        fast.writer.write("".join(heads).encode())
        answers = [await fast.answer() for _ in heads]
        assert [a.status for a in answers] == [200, 404, 200, 200]
        assert answers[0].body[4:8] == b"moof" and answers[0].body != answers[2].body
    finally:
        fast.close()


async def test_an_idle_connection_is_closed_after_the_keepalive(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "room", 6.0)
    await asyncio.sleep(0.05)
    _slow, fast = await pair.clients()
    _slow.close()
    try:
        for _ in range(3):  # requests keep it open past one keep-alive time
            assert (await fast.get("/live/room/index.m3u8")).status == 200
            await asyncio.sleep(KEEPALIVE_S / 2)
        assert await fast.reader.read() == b""  # closed by the server
    finally:
        fast.close()


@pytest.mark.parametrize("head", [
    b"GET /live/a/index.m3u8 HTTP/1.0\r\n\r\n", b"POST /live/a/index.m3u8 HTTP/1.1\r\n\r\n",
    b"GET /live/a/b/index.m3u8 HTTP/1.1\r\n\r\n", b"GET /live/a/index%2Em3u8 HTTP/1.1\r\n\r\n",
    b"GET /live/a/index.m3u8 HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
    b"GET /live/a/index.m3u8 HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET /live/a/index.m3u8 HTTP/1.1\r\nCookie: a\r\ncookie: b\r\n\r\n",
    b"GET /live/a/index.m3u8 HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET /live/a/index.m3u8 HTTP/1.1\r\n folded: x\r\n\r\n",
    b"GET /live/a/../index.m3u8 HTTP/1.1\r\n\r\n", b"GET /live/a/index.m3u8?vt=a+b HTTP/1.1\r\n\r\n",
])
def test_heads_left_to_aiohttp(head: bytes) -> None:
    assert parse_head(head) is None


def test_a_browsers_keep_alive_is_read_here() -> None:
    assert parse_head(b"GET /live/a/index.m3u8 HTTP/1.1\r\nConnection: keep-alive\r\n\r\n") is not None


def test_a_head_it_reads() -> None:
    request = parse_head(b"GET /live/my-room/index.m3u8?_HLS_msn=5&_HLS_part=2&vt=abc&vt=zz HTTP/1.1\r\n"
                         b"Host: x\r\ncookie: nal_vt=t\r\nUser-Agent: ua\r\nX-Request-Id: rid\r\n\r\n")
    assert request is not None
    assert (request.slug, request.name, request.query) == ("my-room", "index.m3u8",
                                                            {"_HLS_msn": "5", "_HLS_part": "2", "vt": "abc"})
    assert (request.cookie, request.agent, request.request_id) == ("nal_vt=t", "ua", "rid")


async def test_a_head_sent_a_byte_at_a_time_is_served_once_complete(pair: Pair, av_720p30: Source) -> None:
    feed(pair, av_720p30, "room", 6.0)
    await asyncio.sleep(0.05)
    _slow, fast = await pair.clients()
    _slow.close()
    try:
        head = b"GET /live/room/index.m3u8 HTTP/1.1\r\nHost: t\r\nUser-Agent: " + b"u" * 4000 + b"\r\n\r\n"
        body, last = head[:-3], head[-3:]
        for i in range(0, len(body), 64):  # many reads: the scan goes on where it stopped
            fast.writer.write(body[i:i + 64])
            await fast.writer.drain()
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        fast.writer.write(last)  # the blank line split across two reads
        async with asyncio.timeout(10):
            answer = await fast.answer()
        assert answer.status == 200 and answer.body.startswith(b"#EXTM3U")
    finally:
        fast.close()


# -- an edge: rooms held by another node, answered from it on the fast path ---------------


@dataclass
class EdgePair:
    """A second node (its own hub, no streams) whose edge pulls from ``pair``'s aiohttp
    listener; two listeners again: aiohttp's and the fast path's."""

    origin: Pair
    slow_port: int
    fast_port: int
    fast: list[FastConnection]
    """The fast path's connections (``inner`` None: aiohttp never took it)."""
    started: list[str]
    asked: list[PlaylistAsked]

    async def clients(self) -> tuple[Client, Client]:
        slow = Client(*await asyncio.open_connection("127.0.0.1", self.slow_port))
        fast = Client(*await asyncio.open_connection("127.0.0.1", self.fast_port))
        return slow, fast


@pytest.fixture
async def edge_pair(pair: Pair) -> AsyncIterator[EdgePair]:
    hub = Hub(reconnect_grace=10.0)
    app = web.Application()
    asked: list[PlaylistAsked] = []
    closed = bound_socket()  # a port nobody answers on
    closed_port = closed.getsockname()[1]
    closed.close()

    async def room_exists(slug: str) -> bool:
        return slug in {"room", "other", "paid", "gone"}

    async def locate(slug: str) -> str | None:
        await asyncio.sleep(0)  # as the room directory (Redis) would
        if slug == "gone":
            return f"http://127.0.0.1:{closed_port}"
        return f"http://127.0.0.1:{pair.slow_port}" if pair.hub.get(slug) is not None else None

    async def access(slug: str, tokens: tuple[str, ...]) -> str | Literal[False] | None:
        await asyncio.sleep(0)
        if slug not in GATED:
            return None
        return GOOD if GOOD in tokens else False

    edge = HlsEdge(locate)
    service = setup_routes(app, hub, room_exists, config=SegmenterConfig(window=12), access=access)
    service.on_playlist = asked.append
    service.elsewhere = edge.serve
    live = LivePath(service, access=access, keepalive_s=KEEPALIVE_S, edge=edge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.server is not None
    make_aiohttp = runner.server
    connections: list[FastConnection] = []
    started: list[str] = []

    def protocol() -> FastConnection:
        connection = live.protocol(make_aiohttp, started=lambda: started.append("started"))
        connections.append(connection)
        return connection

    fast = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    try:
        yield EdgePair(pair, runner.addresses[0][1], fast.sockets[0].getsockname()[1], connections, started,
                       asked)
    finally:
        fast.close()
        await edge.close()
        hub.close()
        await runner.cleanup()


def served(kind: str, source: str) -> float:
    """``nal_hls_edge_served_total{kind, source}``."""
    return REGISTRY.get_sample_value("nal_hls_edge_served_total", {"kind": kind, "source": source}) or 0.0


def served_here(edge_pair: EdgePair) -> bool:
    return bool(edge_pair.fast) and all(connection.inner is None for connection in edge_pair.fast)


async def test_an_edge_answers_on_the_fast_path_as_the_handler(edge_pair: EdgePair, av_720p30: Source) -> None:
    feed(edge_pair.origin, av_720p30, "room", 10.0)
    await asyncio.sleep(0.05)
    clients = await edge_pair.clients()
    try:
        playlist = await both(edge_pair.origin, clients, "/live/room/index.m3u8")
        assert playlist.status == 200 and playlist.headers["cache-control"] == "public, max-age=1"
        text = playlist.body.decode()
        last = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        assert hint is not None
        for name in names_in(text):
            if name != hint[1]:
                answer = await both(edge_pair.origin, clients, f"/live/room/{name}")
                assert answer.status == 200 and answer.body[4:8] in (b"ftyp", b"moof"), name
        for target in ("/live/room/init.mp4", f"/live/room/index.m3u8?_HLS_msn={last}&x=1&_HLS_part=0",
                       f"/live/room/index.m3u8?_HLS_msn={last + 9}", "/live/room/zz-seg-1.m4s",
                       "/live/room/index.m3u8", "/live/gone/index.m3u8"):
            await both(edge_pair.origin, clients, target)
        unreachable = await both(edge_pair.origin, clients, "/live/gone/index.m3u8")
        assert unreachable.status == 502 and unreachable.headers["cache-control"] == "no-store"
        assert served_here(edge_pair) and len(edge_pair.started) >= 10
        assert len(edge_pair.asked) == 6  # the analytics hook: each 200 playlist, on both
        # nobody holds it: aiohttp answers, and takes the connection
        offline = await both(edge_pair.origin, clients, "/live/other/index.m3u8")
        assert offline.status == 404 and offline.headers["retry-after"] == "5"
        assert not served_here(edge_pair)
        await both(edge_pair.origin, clients, "/live/room/index.m3u8")
    finally:
        for client in clients:
            client.close()


async def test_an_edges_blocking_reload_waits_on_the_fast_path(
    edge_pair: EdgePair, make_source: Callable[..., Source]
) -> None:
    until = feed(edge_pair.origin, make_source("720p30-12s", seconds=12), "room", 6.4)
    await asyncio.sleep(0.05)
    clients = await edge_pair.clients()
    try:
        text = (await both(edge_pair.origin, clients, "/live/room/index.m3u8")).body.decode()
        last = max(int(n) for n in re.findall(r"seg-(\d+)\.m4s", text))
        target = f"/live/room/index.m3u8?_HLS_msn={last + 2}&_HLS_part=0"
        before = {source: served("playlist", source) for source in ("origin", "shared", "cache")}
        waiting = asyncio.ensure_future(both(edge_pair.origin, clients, target))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        until(9.4)
        answer = await waiting
        # one fetch for both viewers (the fast path's waits on the one in flight), both counted
        assert served("playlist", "origin") - before["origin"] == 1
        assert served("playlist", "shared") - before["shared"] == 1
        assert served("playlist", "cache") == before["cache"]
        assert answer.status == 200 and f"part-{last + 2}-0.m4s" in answer.body.decode()
        assert answer.headers["cache-control"].startswith("public, max-age=")
        # pipelined behind a reload that waits: answered in order, once it is answered
        until(9.6)
        text = answer.body.decode()
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        assert hint is not None
        fast = clients[1]
        heads = [f"GET /live/room/index.m3u8?_HLS_msn={last + 3} HTTP/1.1\r\nHost: t\r\n\r\n",
                 f"GET /live/room/{names_in(text)[1]} HTTP/1.1\r\nHost: t\r\n\r\n"]
        fast.writer.write("".join(heads).encode())
        await asyncio.sleep(0.1)
        until(12.0)
        answers = [await fast.answer() for _ in heads]
        assert [a.status for a in answers] == [200, 200]
        assert answers[0].body.startswith(b"#EXTM3U") and answers[1].body[4:8] == b"moof"
        assert served_here(edge_pair)
    finally:
        for client in clients:
            client.close()


async def test_an_edge_gates_a_paid_room_on_the_fast_path(edge_pair: EdgePair, av_720p30: Source) -> None:
    feed(edge_pair.origin, av_720p30, "paid", 10.0)
    await asyncio.sleep(0.05)
    clients = await edge_pair.clients()
    try:
        refused = await both(edge_pair.origin, clients, "/live/paid/index.m3u8")
        assert refused.status == 403 and refused.body == b'{"error": "viewing token needed"}'
        assert (await both(edge_pair.origin, clients, "/live/paid/index.m3u8?vt=forged")).status == 403
        playlist = await both(edge_pair.origin, clients, f"/live/paid/index.m3u8?vt={GOOD}")
        assert playlist.status == 200 and playlist.headers["cache-control"] == "private, max-age=1"
        text = playlist.body.decode()
        uris = re.findall(r'URI="([^"]+)"', text) + re.findall(r"^([^#\s]+)$", text, re.M)
        assert uris and all(uri.endswith(f"?vt={GOOD}") for uri in uris)
        part = names_in(text)[1]
        for target, headers in ((f"/live/paid/{part}", ()), (f"/live/paid/{part}", (f"Cookie: a=b; nal_vt={GOOD}",)),
                                ("/live/paid/index.m3u8", (f"Cookie: nal_vt={GOOD}",))):
            answer = await both(edge_pair.origin, clients, target, *headers)
            assert answer.status == (200 if headers else 403), (target, headers)
        assert answer.headers["cache-control"] == "private, max-age=1"  # the cookie's token, passed on
        in_path = await both(edge_pair.origin, clients, f"/live/paid/vt/{GOOD}/index.m3u8")
        assert in_path.status == 200  # the origin asked with ?vt=: its URIs carry it, resolved under the path
        assert (await both(edge_pair.origin, clients, f"/live/paid/vt/{GOOD}/{part}")).status == 200
        assert (await both(edge_pair.origin, clients, f"/live/paid/vt/forged/{part}")).status == 403
        assert served_here(edge_pair)
    finally:
        for client in clients:
            client.close()
    seen = [a for a in edge_pair.asked if a.slug == "paid"]
    assert len(seen) == 6 and all(a.token == GOOD for a in seen)
