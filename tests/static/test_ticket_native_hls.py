"""Native HLS in Chromium outlives its playlist URL's viewing token (issue 10: "the token
travels in the URIs the playlist lists (or a cookie that the player sends), so native HLS in
Chromium and Safari and our MSE player all play").

The video element keeps reloading the address it was given, whose token (in its path) expires after
``--viewing-token-ttl-s`` (6 s here, 60 s by default); the page's heartbeat (every quarter of
that) renews the ``nal_vt`` cookie, which carries the same element on. The test checks that the
element's address is the one it started with, that this address alone is refused (its token
expired), and that the video plays on for three more token lifetimes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_live_player import publisher  # noqa: F401 - the ffmpeg fixture
from tests.static.test_ticket_watch import stream_live
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until

TTL_S = 6
SLOW = 30_000
TIME = "() => document.getElementById('video').currentTime"
SRC = "() => document.getElementById('video').currentSrc"


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}",
                                         viewing_token_ttl_s=TTL_S)
    return proc


async def test_native_hls_plays_on_after_its_playlist_token_expired(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess,
        publisher: Callable[[str], Any]) -> None:  # noqa: F811
    owner = await bearer(http, "olga")
    room = await create_room(http, owner, "Token Night")
    slug = room["slug"]
    async with http.post(f"/api/rooms/{slug}/shows", headers=owner,
                         json={"title": "Long set", "starts_at": "2030-05-01T20:00:00Z"}) as r:
        show = await r.json()
    async with http.post(f"/api/shows/{show['id']}/tiers", headers=owner, json={"name": "GA", "price": 900}) as r:
        tier = await r.json()
    await bearer(http, "nina")
    async with http.post(f"/api/shows/{show['id']}/comps", headers=owner,
                         json={"username": "nina", "tier_id": tier["id"]}) as r:
        assert r.status == 201, await r.text()
    await publisher(f"{srv.rtmp_url}/{room['stream_key']}")
    await stream_live(http, slug)

    fan = await pages.open(f"/watch/{slug}", "nina", signup=False)
    video = fan.locator("#video")
    await expect(video).to_have_attribute("data-state", "live", timeout=SLOW)
    await expect(video).to_have_attribute("data-player", "native")
    src = await fan.evaluate(SRC)
    assert f"/live/{slug}/vt/" in src
    playlist = "/" + src.split("://", 1)[1].split("/", 1)[1]

    ours = 0  # the 403s this test's own fetches got

    async def refused() -> bool:  # the element's own address, without the page's cookie
        nonlocal ours
        async with http.get(playlist) as answer:
            ours += answer.status == 403
            return answer.status == 403

    await fan.wait_for_function(f"() => document.getElementById('video').currentTime > {await fan.evaluate(TIME)}",
                                timeout=SLOW)
    await wait_until(refused, bool, timeout=60)  # the token lives TTL_S
    at_expiry = await fan.evaluate(TIME)
    await fan.wait_for_function(f"() => document.getElementById('video').currentTime > {at_expiry + 3 * TTL_S}",
                                timeout=60_000)
    assert await fan.evaluate(SRC) == src  # the same element and address: never restarted with a fresh token
    await expect(video).to_have_attribute("data-state", "live")
    metrics = await (await http.get("/metrics")).text()
    denied = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith('nal_viewing_denied_total{kind="hls"'))
    why = [line for line in metrics.splitlines()  # which kind of request, and why, if this fails
           if line.startswith("nal_viewing_denied_total{") or (line.startswith("nal_hls_requests_total{")
                                                            and 'status="403"' in line)]
    assert denied == ours, why  # every refusal was one of ours: the player's reloads never were
