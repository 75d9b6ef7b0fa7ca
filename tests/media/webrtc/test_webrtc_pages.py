"""Headless Chromium goes live from /studio/{slug} over WHIP (fake camera and microphone) and a
second page watches /watch/{slug} over WHEP: its decoded frame count rises, the audio is live.

Runs against a real ``notalabel serve`` process (``server_process``), the way a performer and a
fan meet it: the performer signs in, the studio publishes, the fan's page finds the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    # WebRTC on loopback only: offer 127.0.0.1 candidates, never mDNS names.
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
]
PASSWORD = "correct horse battery"
LOOPBACK = {"webrtc_host_addresses": "127.0.0.1"}
VIDEO = "document.querySelector('#video')"
PLAYER_STATE = (f"({{player: {VIDEO}.dataset.player, state: {VIDEO}.dataset.state,"
                f" webrtcError: {VIDEO}.dataset.webrtcError, webrtcTries: {VIDEO}.dataset.webrtcTries,"
                f" frames: {VIDEO}.getVideoPlaybackQuality().totalVideoFrames}})")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _room(http: aiohttp.ClientSession, base: str) -> tuple[str, str]:
    creds = {"username": "singer", "password": PASSWORD}
    async with http.post(f"{base}/api/accounts", json=creds) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{base}/api/sessions", json=creds) as r:
        token = (await r.json())["token"]
    http.cookie_jar.clear()
    async with http.post(f"{base}/api/rooms", json={"title": "Live tonight", "latency_class": "realtime"},
                         headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 201, await r.text()
        room = await r.json()
    return room["slug"], room["stream_key"]


async def _stream(http: aiohttp.ClientSession, base: str, slug: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/rooms/{slug}/stream") as r:
        state: dict[str, Any] = await r.json()
        return state


async def _until_stream(http: aiohttp.ClientSession, base: str, slug: str, check: Any, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check(state := await _stream(http, base, slug)):
        if loop.time() > deadline:
            raise AssertionError(f"stream state not reached in {timeout}s: {state}")
        await asyncio.sleep(0.2)
    return state


async def _until(page: Page, expression: str, timeout: float = 20.0, show: str = "null") -> None:
    """Poll ``expression`` with page.evaluate (wait_for_function needs eval, which our CSP
    forbids); on timeout the assertion shows the value of ``show``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await page.evaluate(f"() => Boolean({expression})"):
        if loop.time() > deadline:
            seen = await page.evaluate(f"() => JSON.stringify({show})")
            raise AssertionError(f"not true in {timeout}s: {expression}; page: {json.loads(seen)}")
        await asyncio.sleep(0.2)


def _watch_problems(page: Page, problems: list[str]) -> None:
    page.on("pageerror", lambda exc: problems.append(f"uncaught {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)


async def test_go_live_from_studio_and_watch_over_webrtc(server_process: Any, http: aiohttp.ClientSession) -> None:
    srv = server_process(**LOOPBACK)
    base = srv.url
    slug, _ = await _room(http, base)
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=90_000)  # a loaded 2-core box can take long to start it
        try:
            performer = await browser.new_context(base_url=base)
            r = await performer.request.post("/api/sessions", data={"username": "singer", "password": PASSWORD})
            assert r.status == 200  # the session cookie is now the performer context's
            studio = await performer.new_page()
            _watch_problems(studio, problems)
            await studio.goto(f"/studio/{slug}")
            await expect(studio.locator("#browser-live")).to_be_visible(timeout=15_000)
            await _until(studio, "document.querySelector('#preview').videoWidth > 0")
            await expect(studio.locator("#live-key")).to_have_count(0)  # the owner's session, no key to paste

            # The fan opens the page before the show starts: it must switch to WebRTC by itself
            # while the stream is still starting (the WHIP publish and the WHEP request race).
            fan = await browser.new_context(base_url=base)
            watch = await fan.new_page()
            _watch_problems(watch, problems)
            await watch.goto(f"/watch/{slug}")
            await expect(watch.locator("#player-overlay")).to_contain_text("offline", timeout=15_000)

            await studio.click("#go-live")
            await studio.wait_for_selector("body[data-live=true]", timeout=20_000)
            state = await _until_stream(http, base, slug, lambda s: s.get("video_codec") and s.get("audio_codec"), 20)
            assert state["video_codec"] == "h264" and state["audio_codec"] == "aac"

            await _until(watch, f"{VIDEO}.dataset.player === 'webrtc' && {VIDEO}.srcObject"
                         f" && {VIDEO}.getVideoPlaybackQuality().totalVideoFrames > 10", 30, PLAYER_STATE)
            frames = await watch.evaluate(f"{VIDEO}.getVideoPlaybackQuality().totalVideoFrames")
            await _until(watch, f"{VIDEO}.getVideoPlaybackQuality().totalVideoFrames > {frames + 15}", 20, PLAYER_STATE)
            audio = await watch.evaluate(f"{VIDEO}.srcObject.getAudioTracks().map(t => t.readyState)")
            assert audio == ["live"]
            await expect(studio.locator("#studio-chat")).to_be_visible()
            await expect(studio.locator("#studio-state")).to_have_text("LIVE")
            await expect(studio.locator("#viewers")).not_to_have_text("0", timeout=15_000)
            # A browser makes keyframes only when asked: the server asks every 2 s, so LL-HLS
            # (segments cut at keyframes) starts too, and restream targets get a usual GOP.
            state = await _until_stream(http, base, slug, lambda s: s["keyframe_interval"] is not None
                                        and s["keyframe_interval"] > 1, 20)
            assert state["keyframe_interval"] <= 4, state
            async with http.get(f"{base}/live/{slug}/index.m3u8") as r:
                assert r.status == 200 and "#EXTINF" in await r.text()

            await studio.click("#stop-live")
            await expect(studio.locator("#live-status")).to_contain_text("ended")
            await _until_stream(http, base, slug, lambda s: s["state"] == "offline", 10)
            await expect(watch.locator("#player-overlay")).to_contain_text("offline", timeout=15_000)
        finally:
            await browser.close()
    assert problems == []
