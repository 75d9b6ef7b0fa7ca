"""Headless Chromium goes live from /studio/{slug} over WHIP (fake camera and microphone) and a
second page watches /watch/{slug} over WHEP: its decoded frame count rises, the audio is live.

Runs the real server app in-process (its hub, LL-HLS, room socket) with our WHIP/WHEP routes
added, as server/app.py will once it wires WebRTC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from media.hub import Hub
from media.units import TrackKind
from media.webrtc import whep, whip
from tests.media.webrtc.support import LOOPBACK, wait_for
from tests.support.servers import free_port

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    # WebRTC on loopback only: offer 127.0.0.1 candidates, never mDNS names.
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
PASSWORD = "correct horse battery"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Hub]]:
    from server.app import make_app
    from server.config import Settings
    from server.keys import RUNTIME

    settings = Settings(data_dir=str(tmp_path), database=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        http=f"127.0.0.1:{free_port()}")
    app: web.Application = await make_app(settings)
    runtime = app[RUNTIME]
    store = runtime.store
    hub: Hub = runtime.hub  # the server's own hub (its LL-HLS and stream state read it)
    room_exists = runtime.live.room_exists

    async def authorize(slug: str, key: str) -> bool:
        row = await store.room_by_stream_key(key)
        return row is not None and row.slug == slug

    whip.setup_routes(app, hub, authorize, room_exists, settings=LOOPBACK)
    whep.setup_routes(app, hub, room_exists, settings=LOOPBACK)
    server = TestServer(app, host="127.0.0.1", port=int(settings.http.rsplit(":", 1)[1]))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), hub
    await server.close()


async def _room(base: str) -> tuple[str, str]:
    async with aiohttp.ClientSession(base_url=base) as http:
        creds = {"username": "singer", "password": PASSWORD}
        async with http.post("/api/accounts", json=creds) as r:
            assert r.status == 201, await r.text()
        async with http.post("/api/sessions", json=creds) as r:
            token = (await r.json())["token"]
        async with http.post("/api/rooms", json={"title": "Live tonight", "latency_class": "realtime"},
                             headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 201, await r.text()
            room = await r.json()
    return room["slug"], room["stream_key"]


async def _until(page: Page, expression: str, timeout: float = 20.0) -> None:
    """Poll ``expression`` with page.evaluate (wait_for_function needs eval, which our CSP forbids)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await page.evaluate(f"() => Boolean({expression})"):
        if loop.time() > deadline:
            raise AssertionError(f"not true in {timeout}s: {expression}")
        await asyncio.sleep(0.2)


def _watch_problems(page: Page, problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"uncaught {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)


async def test_go_live_from_studio_and_watch_over_webrtc(site: tuple[str, Hub]) -> None:
    base, hub = site
    slug, key = await _room(base)
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=30_000)
        try:
            performer = await browser.new_context(base_url=base)
            r = await performer.request.post("/api/sessions", data={"username": "singer", "password": PASSWORD})
            assert r.status == 200
            studio = await performer.new_page()
            _watch_problems(studio, problems)
            await studio.goto(f"/studio/{slug}")
            await expect(studio.locator("#browser-live")).to_be_visible(timeout=15_000)
            await _until(studio, "document.querySelector('#preview').videoWidth > 0")
            await studio.fill("#live-key", "not-the-key")
            await studio.click("#go-live")
            await expect(studio.locator("#live-status")).to_contain_text("not this room", timeout=15_000)
            await studio.fill("#live-key", key)
            await studio.click("#go-live")
            await studio.wait_for_selector("body[data-live=true]", timeout=20_000)
            await wait_for(lambda: (s := hub.get(slug)) is not None
                           and {t.kind for t in s.tracks} == {TrackKind.VIDEO, TrackKind.AUDIO}, timeout=20)
            assert hub.get(slug).state_dict()["video_codec"] == "h264"

            fan = await browser.new_context(base_url=base)
            watch = await fan.new_page()
            _watch_problems(watch, problems)
            await watch.goto(f"/watch/{slug}")
            await _until(watch, "document.querySelector('#video').dataset.player === 'webrtc'"
                         " && document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames > 10", 30)
            frames = await watch.evaluate("document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames")
            await _until(watch, f"document.querySelector('#video').getVideoPlaybackQuality().totalVideoFrames > {frames + 15}")
            audio = await watch.evaluate(
                "document.querySelector('#video').srcObject.getAudioTracks().map(t => t.readyState)")
            assert audio == ["live"]
            await expect(studio.locator("#studio-chat")).to_be_visible()
            await expect(studio.locator("#studio-state")).to_have_text("LIVE")
            await expect(studio.locator("#viewers")).not_to_have_text("0", timeout=15_000)
            assert await watch.evaluate("document.querySelector('#video').dataset.webrtcError") is None

            await studio.click("#stop-live")
            await expect(studio.locator("#live-status")).to_contain_text("ended")
            await wait_for(lambda: hub.get(slug) is None, timeout=10)
        finally:
            await browser.close()
    assert problems == []
