"""Tiers and latency classes in Chromium (issue 10, "Done means": "a fan buys a ``realtime``
ticket through the sandbox checkout, watches over WHEP, chats; a second fan with a
``standard`` ticket watches over LL-HLS and cannot open WHEP").

ffmpeg publishes H.264 + AAC over RTMP to a real ``notalabel serve``. Vera, on the watch page
with no ticket, buys the ``realtime`` tier through the sandbox checkout: back on the page it
plays over WebRTC (WHEP with her viewing token; a live video track, decoded frames rising),
and she chats. Stan buys only the ``standard`` tier the same way: his page plays LL-HLS and never
tries WebRTC, and a WHEP offer from his page with his own valid viewing token is refused (403).
A second test gives the same two tiers as comps (the guest list) and checks the same split.
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
TRACK = """() => { const s = document.getElementById('video').srcObject;
  const v = s ? s.getVideoTracks() : [];
  return v.length === 1 && v[0].readyState === 'live' && !v[0].muted; }"""
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


async def buy_on_the_watch_page(pages: Pages, slug: str, fan: str, label: str) -> Page:
    """``fan`` signs up, opens the watch page without a ticket (nothing plays), and buys the
    tier labelled ``label`` through the sandbox checkout; the page they land back on."""
    page = await pages.open(f"/watch/{slug}", fan)
    await expect(page.locator("#player-overlay")).to_have_text("A ticket is needed to watch this show.",
                                                              timeout=SLOW)
    assert await page.evaluate("() => document.getElementById('video').currentSrc") == ""
    await page.get_by_role("button", name=label).click()
    await page.wait_for_url("**/sandbox/checkout/**")
    await page.get_by_role("button", name="Pay", exact=True).click()
    await page.wait_for_url(f"**/watch/{slug}*")
    return page


async def test_a_realtime_ticket_bought_at_checkout_plays_over_whep_a_standard_one_over_ll_hls(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess,
        publisher: Callable[..., Any]) -> None:  # noqa: F811
    owner = await bearer(http, "olga")
    room = await create_room(http, owner, "Front Row Night")
    slug = room["slug"]
    async with http.post(f"/api/rooms/{slug}/shows", headers=owner,
                         json={"title": "Album launch", "starts_at": "2030-05-01T20:00:00Z"}) as r:
        show = await r.json()
    for name, price, latency in (("Front row", 3500, "realtime"), ("Standard", 1500, "standard")):
        async with http.post(f"/api/shows/{show['id']}/tiers", headers=owner,
                             json={"name": name, "price": price, "latency_class": latency}) as r:
            assert r.status == 201, await r.text()
    await publisher(f"{srv.rtmp_url}/{room['stream_key']}", seconds=240)
    await stream_live(http, slug)

    vera = await buy_on_the_watch_page(pages, slug, "vera", "Buy Front row ($35.00)")
    await wait_until(lambda: player(vera), lambda s: s["player"] == "webrtc" and s["webrtc"], timeout=60)
    await vera.wait_for_function(TRACK, timeout=SLOW)  # the WHEP session's video track is live
    frames = await vera.evaluate(FRAMES)
    await vera.wait_for_function(f"{FRAMES} > {frames} + 30", timeout=SLOW)
    state = await player(vera)
    assert state["player"] == "webrtc" and state["webrtc"], state  # the frames came over WHEP
    await vera.get_by_label("Message", exact=True).fill("bought my way to the front")
    await vera.get_by_role("button", name="Send").click()
    await expect(vera.locator("#chat-log li.msg .text").last).to_have_text("bought my way to the front")
    await pages.shot(vera, "ticket-bought-realtime-webrtc")

    stan = await buy_on_the_watch_page(pages, slug, "stan", "Buy Standard ($15.00)")
    await expect(stan.locator("#video")).to_have_attribute("data-state", "live", timeout=SLOW)
    state = await player(stan)
    assert state["player"] in ("native", "mse") and state["tries"] is None, state  # LL-HLS, WebRTC never tried
    refused = await stan.evaluate(WHEP_WITH_MY_TOKEN, slug)
    assert refused.startswith("403 "), refused
    metrics = await (await http.get("/metrics")).text()
    assert 'nal_viewing_denied_total{kind="whep",reason="standard_tier"} 1.0' in metrics

    async with http.get("/api/me/tickets", headers=owner) as r:
        assert (await r.json())["tickets"] == []  # the owner holds none: the two were bought, not given
    async with http.get(f"/api/shows/{show['id']}", headers=owner) as r:
        sold = {t["name"]: (t["sold"], t["revenue"]) for t in (await r.json())["tiers"]}
    assert sold == {"Front row": (1, 3500), "Standard": (1, 1500)}, sold  # paid at checkout, not comps
