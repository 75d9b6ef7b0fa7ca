"""Show analytics across nodes: two ``notalabel serve`` processes on one Redis and one
PostgreSQL. ffmpeg publishes to A; a WHEP viewer and an LL-HLS viewer watch on A, another
LL-HLS viewer watches on B (B's LL-HLS edge pulls from A). The stored concurrent count is the
sum over both nodes, counted once: A (which holds the ingest) writes every sample, B none, and
A does not count B's edge pulls as a viewer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp

from tests.conftest import REDIS_URL, pg_url
from tests.media.webrtc.support import Viewer
from tests.server.test_cluster import account, pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import (
    Encode,
    Publisher,
    make_room,
    publish,
    wait_for_playlist,
    wait_for_state,
)
from tests.server.test_live_media import publishers as publishers  # noqa: F401 - fixture
from tests.server.test_media_cluster import http as http  # noqa: F401 - fixture
from tests.server.test_media_cluster import metric_sum
from tests.server.test_show_analytics import iso
from tests.support.wait import wait_until

PERIOD = 1.0


class Follower:
    """An LL-HLS client with its own User-Agent (a distinct viewer) polling the playlist."""

    def __init__(self, http: aiohttp.ClientSession, url: str, agent: str) -> None:
        self.http, self.url, self.agent = http, url, agent
        self.ok = 0
        self._stop = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            async with self.http.get(self.url, headers={"User-Agent": self.agent}) as r:
                await r.read()
                self.ok += r.status == 200
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.25)

    async def stop(self) -> None:
        self._stop.set()
        await self.task


async def samples(http: aiohttp.ClientSession, node: Any, show_id: str, owner: dict[str, str]) -> list[dict[str, Any]]:
    r = await http.get(f"{node.url}/api/shows/{show_id}/analytics", headers=owner)
    assert r.status == 200, await r.text()
    return list((await r.json())["series"]["viewers"])


async def test_two_nodes_store_the_sum_of_their_viewers_once(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    publishers: list[Publisher],  # noqa: F811
) -> None:
    common = {"database": pg_url(pg_schema), "redis": REDIS_URL, "redis_prefix": redis_prefix,
              "secret_key": "cluster secret " + redis_prefix, "analytics_sample_s": PERIOD,
              "webrtc_host_addresses": "127.0.0.1"}
    a, b = server_process(**common), server_process(**common)
    room = await make_room(http, a.url)
    r = await http.get(f"{a.url}/api/rooms/{room.slug}")
    owner_name = (await r.json())["owner"]
    token = await _login(http, a.url, owner_name)
    owner = {"Authorization": f"Bearer {token}"}
    r = await http.post(f"{a.url}/api/rooms/{room.slug}/shows", headers=owner,
                        json={"title": "Across nodes", "starts_at": iso(time.time() - 60)})
    assert r.status == 201, await r.text()
    show_id = (await r.json())["id"]

    publish(publishers, a, room, Encode("640x360", 30, seconds=120))
    await wait_for_state(http, a, room, "live")
    await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=1, timeout=60)
    await wait_for_playlist(http, f"{b.url}/live/{room.slug}/index.m3u8", segments=1, timeout=60)

    viewer, code, body = await Viewer.watch(http, a.url, room.slug)
    assert code == 201, body
    on_a = Follower(http, f"{a.url}/live/{room.slug}/index.m3u8", "viewer-on-a")
    on_b = Follower(http, f"{b.url}/live/{room.slug}/index.m3u8", "viewer-on-b")
    try:
        # The test's own playlist polls above were viewers too, for HLS_IDLE_S after their last
        # fetch: wait until only the three remain.
        def everyone(rows: list[dict[str, Any]]) -> bool:
            return any((x["webrtc"], x["hls"], x["nodes"]) == (1, 2, 2) for x in rows)

        first = await wait_until(lambda: samples(http, b, show_id, owner), everyone, timeout=60)
        since = max(x["at"] for x in first if (x["webrtc"], x["hls"]) == (1, 2))
        later = await wait_until(lambda: samples(http, b, show_id, owner),
                                 lambda rows: sum(x["at"] > since for x in rows) >= 3, timeout=60)
        window = [x for x in later if x["at"] > since]
    finally:
        await on_a.stop()
        await on_b.stop()
        async with http.delete(f"{a.url}{viewer.location}") as r:
            assert r.status in (200, 204)
        await viewer.close()

    # While all three watched, every sample is the sum over both nodes, no more (B's edge pulls
    # from A are not a viewer) and no less (B's viewer is in it).
    assert [(x["webrtc"], x["hls"], x["total"], x["nodes"]) for x in window] == [(1, 2, 3, 2)] * len(window), later
    ats = [x["at"] for x in later]
    assert ats == sorted(set(ats))  # one row per period
    assert await metric_sum(http, a, "nal_analytics_samples_total", result="stored") >= len(later)
    assert await metric_sum(http, b, "nal_analytics_samples_total") == 0  # B holds no ingest: it only reports
    r = await http.get(f"{a.url}/api/shows/{show_id}/analytics", headers=owner)
    got = await r.json()  # the peak is the largest stored sample (the test's early polls may top it)
    assert got["audience"]["peak"]["viewers"] == max(x["total"] for x in got["series"]["viewers"]) >= 3


async def _login(http: aiohttp.ClientSession, base: str, username: str) -> str:
    from tests.server.test_live_media import PASSWORD

    r = await http.post(f"{base}/api/sessions", json={"username": username, "password": PASSWORD})
    assert r.status == 200, await r.text()
    http.cookie_jar.clear()
    return str((await r.json())["token"])
