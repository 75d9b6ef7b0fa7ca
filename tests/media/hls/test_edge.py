"""media.hls.edge against a real HTTP origin on loopback: one fetch per URL, cached as told."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from media.hls.edge import HlsEdge
from tests.support.servers import bound_socket

IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class Origin:
    """Answers ``/live/{slug}/{name}``; holds answers until ``release`` is set."""

    asked: Counter[str] = field(default_factory=Counter)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    cache_control: str = IMMUTABLE
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.asked[request.path_qs] += 1
        self.arrived.set()
        await self.release.wait()
        headers = {"Cache-Control": self.cache_control, "Retry-After": "1"}
        return web.Response(status=self.status, body=b"x" * 100 + request.path_qs.encode(),
                            content_type="video/mp4", headers=headers)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bound_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class Setup:
    origin: Origin
    edge: HlsEdge
    url: str
    directory_open: asyncio.Event
    """The room directory answers only while set (set unless a test clears it)."""
    lookups: list[str]
    received: list[str]
    """Every request the edge's handler got, as it got it."""
    arrived: asyncio.Event
    """Set by each request the edge's handler gets."""


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    origin = Origin()
    origin_app = web.Application()
    origin_app.router.add_get("/live/{slug}/{name}", origin.handle)
    origin_runner, origin_url = await serve(origin_app)

    directory_open = asyncio.Event()
    directory_open.set()
    lookups: list[str] = []
    received: list[str] = []
    arrived = asyncio.Event()

    async def locate(slug: str) -> str | None:
        lookups.append(slug)
        await directory_open.wait()
        return origin_url if slug == "room" else None

    edge = HlsEdge(locate, max_bytes=4000)

    async def handle(request: web.Request) -> web.StreamResponse:
        received.append(request.path_qs)
        arrived.set()
        answer = await edge.serve(request, request.match_info["slug"], request.match_info["name"])
        return answer if answer is not None else web.json_response({"error": "offline"}, status=404)

    edge_app = web.Application()
    edge_app.router.add_get("/live/{slug}/{name}", handle)
    edge_runner, edge_url = await serve(edge_app)
    yield Setup(origin, edge, edge_url, directory_open, lookups, received, arrived)
    origin.release.set()
    await edge.close()
    await edge_runner.cleanup()
    await origin_runner.cleanup()


async def get_many(url: str, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    async with aiohttp.ClientSession() as http:
        async def one() -> tuple[int, dict[str, str], bytes]:
            async with http.get(url) as r:
                return r.status, dict(r.headers), await r.read()

        return await asyncio.gather(*(one() for _ in range(count)))


async def test_concurrent_requests_share_one_fetch_and_later_ones_hit_the_cache(setup: Setup) -> None:
    name = "/live/room/ab-part-3-1.m4s"
    waiting = asyncio.ensure_future(get_many(setup.url + name, 30))
    await setup.origin.arrived.wait()
    setup.origin.release.set()
    answers = await waiting
    assert {status for status, _, _ in answers} == {200}
    assert all(body.endswith(name.encode()) for _, _, body in answers)
    assert answers[0][1]["Cache-Control"] == IMMUTABLE
    assert answers[0][1]["Access-Control-Allow-Origin"] == "*"
    await get_many(setup.url + name, 5)
    assert setup.origin.asked[name] == 1


async def test_requests_during_a_directory_lookup_share_it(setup: Setup) -> None:
    """Hundreds of viewers ask while the room's lookup runs (its answer ran out): one lookup."""
    setup.origin.release.set()
    setup.directory_open.clear()
    async with aiohttp.ClientSession() as http:
        async def one(name: str) -> int:
            async with http.get(f"{setup.url}/live/room/{name}") as r:
                await r.read()
                return r.status

        asking = asyncio.gather(*(one(f"ab-part-{i}-0.m4s") for i in range(30)))
        while len(setup.received) < 30:  # every request is waiting on the directory
            setup.arrived.clear()
            await setup.arrived.wait()
        setup.directory_open.set()
        assert set(await asking) == {200}
    assert setup.lookups == ["room"]


async def test_blocking_reload_query_is_kept_in_order_and_nothing_else(setup: Setup) -> None:
    setup.origin.release.set()
    setup.origin.cache_control = "public, max-age=6"
    await get_many(setup.url + "/live/room/index.m3u8?_HLS_part=2&junk=1&_HLS_msn=7", 3)
    await get_many(setup.url + "/live/room/index.m3u8?_HLS_msn=7&_HLS_part=2", 3)
    assert setup.origin.asked == Counter({"/live/room/index.m3u8?_HLS_msn=7&_HLS_part=2": 1})


@pytest.mark.parametrize("cache_control", ["private, max-age=6", "no-cache", "no-store"])
async def test_answers_not_to_share_are_fetched_again(setup: Setup, cache_control: str) -> None:
    setup.origin.release.set()
    setup.origin.cache_control = cache_control
    name = "/live/room/index.m3u8?vt=token1"
    for _ in range(2):
        (status, headers, _), = await get_many(setup.url + name, 1)
        assert status == 200 and headers["Cache-Control"] == cache_control
    assert setup.origin.asked[name] == 2


async def test_errors_pass_through_and_are_not_cached(setup: Setup) -> None:
    setup.origin.release.set()
    setup.origin.status = 503
    name = "/live/room/index.m3u8?_HLS_msn=9"
    for _ in range(2):
        (status, headers, _), = await get_many(setup.url + name, 1)
        assert status == 503 and headers["Retry-After"] == "1"
    assert setup.origin.asked[name] == 2


async def test_the_cache_is_bounded(setup: Setup) -> None:
    setup.origin.release.set()
    names = [f"/live/room/ab-part-{i}-0.m4s" for i in range(60)]  # ~130 bytes each, 4000 kept
    for name in names:
        await get_many(setup.url + name, 1)
    await get_many(setup.url + names[-1], 1)
    await get_many(setup.url + names[0], 1)
    assert setup.origin.asked[names[-1]] == 1  # recent: still cached
    assert setup.origin.asked[names[0]] == 2  # oldest: evicted, fetched again


async def test_rooms_not_held_elsewhere_and_odd_names_are_not_pulled(setup: Setup) -> None:
    setup.origin.release.set()
    for path in ("/live/other/index.m3u8", "/live/room/..%2Fsecret", "/live/room/x.ts"):
        (status, _, _), = await get_many(setup.url + path, 1)
        assert status == 404, path
    assert not setup.origin.asked


async def test_an_unreachable_origin_is_502() -> None:
    sock = bound_socket()  # bound, never listening: connections are refused
    port = sock.getsockname()[1]

    async def locate(slug: str) -> str | None:
        return f"http://127.0.0.1:{port}"

    edge = HlsEdge(locate)
    app = web.Application()

    async def handle(request: web.Request) -> web.StreamResponse:
        answer = await edge.serve(request, "room", "index.m3u8")
        assert answer is not None
        return answer

    app.router.add_get("/x", handle)
    runner, url = await serve(app)
    try:
        (status, headers, body), = await get_many(url + "/x", 1)
        assert status == 502 and headers["Cache-Control"] == "no-store"
        assert b"origin unreachable" in body
    finally:
        await edge.close()
        await runner.cleanup()
        sock.close()
