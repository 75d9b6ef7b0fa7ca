"""Tiers and latency classes in Chromium (issue 10, "Done means": "a fan buys a ``realtime``
ticket ..., watches over WHEP, chats; a second fan with a ``standard`` ticket watches over
LL-HLS and cannot open WHEP").

ffmpeg publishes H.264 + AAC over RTMP to a real ``notalabel serve``. Vera holds a
``realtime`` ticket: her watch page plays over WebRTC (WHEP with her viewing token), decoded
frames rising, and she chats. Stan holds a ``standard`` ticket: his page plays LL-HLS and never
tries WebRTC, and a WHEP offer from his page with his own valid viewing token is refused (403).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.static.conftest import CHROMIUM, CHROMIUM_ARGS, Pages, bearer, create_room
from tests.static.test_live_player import publisher  # noqa: F401 - the ffmpeg fixture
from tests.static.test_ticket_watch import stream_live
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until

SLOW = 30_000
FRAMES = "() => document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames"
PLAYER = """() => { const v = document.getElementById('video');
  return {player: v.dataset.player || null, state: v.dataset.state || null, webrtc: Boolean(v.srcObject),
          tries: v.dataset.webrtcTries || null, error: v.dataset.webrtcError || null}; }"""
WHEP_WITH_MY_TOKEN = """async (slug) => {
  const {whepPlay} = await import('/static/whep.js');
  try {
    const session = await whepPlay(slug, {token: window.nal.viewing.token});
    session.stop();
    return 'played';
  } catch (err) {
    return `${err.status} ${err.message}`;
  }
}"""


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}",
                                         webrtc_host_addresses="127.0.0.1")
    return proc


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # WebRTC on loopback: offer 127.0.0.1 candidates, never mDNS names (as test_webrtc_pages).
    args = [*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=args, timeout=90_000)
        try:
            yield chromium
        finally:
            await chromium.close()


async def player(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(PLAYER)
    return state


async def test_a_realtime_ticket_plays_over_whep_and_a_standard_one_is_refused(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess,
        publisher: Callable[..., Any]) -> None:  # noqa: F811
    owner = await bearer(http, "olga")
    room = await create_room(http, owner, "Front Row Night")
    slug = room["slug"]
    async with http.post(f"/api/rooms/{slug}/shows", headers=owner,
                         json={"title": "Album launch", "starts_at": "2030-05-01T20:00:00Z"}) as r:
        show = await r.json()
    tiers = {}
    for name, latency in (("Front row", "realtime"), ("Standard", "standard")):
        async with http.post(f"/api/shows/{show['id']}/tiers", headers=owner,
                             json={"name": name, "price": 2000, "latency_class": latency}) as r:
            assert r.status == 201, await r.text()
            tiers[latency] = (await r.json())["id"]
    for fan, latency in (("vera", "realtime"), ("stan", "standard")):
        await bearer(http, fan)
        async with http.post(f"/api/shows/{show['id']}/comps", headers=owner,
                             json={"username": fan, "tier_id": tiers[latency]}) as r:
            assert r.status == 201, await r.text()
    await publisher(f"{srv.rtmp_url}/{room['stream_key']}", seconds=240)
    await stream_live(http, slug)

    vera = await pages.open(f"/watch/{slug}", "vera", signup=False)
    await wait_until(lambda: player(vera), lambda s: s["player"] == "webrtc" and s["webrtc"], timeout=60)
    frames = await vera.evaluate(FRAMES)
    await vera.wait_for_function(f"{FRAMES} > {frames} + 30", timeout=SLOW)
    assert (await player(vera))["player"] == "webrtc"  # still WebRTC: frames came over WHEP
    await vera.get_by_label("Message", exact=True).fill("front row says hi")
    await vera.get_by_role("button", name="Send").click()
    await expect(vera.locator("#chat-log li.msg .text").last).to_have_text("front row says hi")
    await pages.shot(vera, "ticket-realtime-webrtc")

    stan = await pages.open(f"/watch/{slug}", "stan", signup=False)
    video = stan.locator("#video")
    await expect(video).to_have_attribute("data-state", "live", timeout=SLOW)
    state = await player(stan)
    assert state["player"] in ("native", "mse") and state["tries"] is None, state  # LL-HLS, WebRTC never tried
    refused = await stan.evaluate(WHEP_WITH_MY_TOKEN, slug)
    assert refused.startswith("403 "), refused
    assert await vera.evaluate(WHEP_WITH_MY_TOKEN, slug) == "played"  # the same call with a realtime token
    metrics = await (await http.get("/metrics")).text()
    assert 'nal_viewing_denied_total{kind="whep",reason="standard_tier"} 1.0' in metrics
    await expect(stan.locator("#chat-log li.msg .text").last).to_have_text("front row says hi")  # the same room
