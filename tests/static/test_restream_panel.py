"""The studio's Restream card in headless Chromium, against a real server process.

The owner adds a custom target that points at a closed port and a YouTube target, toggles and
removes the YouTube one, and adds a target at a real nginx-rtmp (standing in for a platform).
ffmpeg then publishes to the room like OBS: without touching the page, the closed-port target
turns RETRYING with a generic "could not connect" and the next attempt, the nginx target turns LIVE
with a bitrate, and both return to IDLE when the show ends. No full key ever reaches the page,
the room's events or the server's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from tests.relay.nginx import Nginx
from tests.static.conftest import CHROMIUM, CHROMIUM_ARGS, Pages, bearer, create_room
from tests.support.servers import ServerProcess, free_port

CUSTOM_KEY = "supersecretkey123"
YOUTUBE_KEY = "yt-abcd-efgh-ijkl-9876"
NGINX_KEY = "nginx-stream-key-5555"
KEYS = (CUSTOM_KEY, YOUTUBE_KEY, NGINX_KEY)
WEBRTC_ARGS = [*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection",
               "--disable-features=WebRtcHideLocalIpsWithMdns"]
SLOW = 30_000  # ms: a state reached through the 5 s poll, with room for a loaded machine


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium that may also go live from the studio over WHIP on loopback."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=WEBRTC_ARGS, timeout=90_000)  # a loaded 2-core box can take long to start it
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    """A server whose shows end 2 s after the publisher leaves (the default grace is 10 s),
    with WebRTC candidates on loopback."""
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}",
                                         reconnect_grace_s=2, webrtc_host_addresses="127.0.0.1",
                                         relay_allow_private=True)  # nginx is on loopback
    return proc


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    server = Nginx(tmp_path / "nginx")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def ffmpeg() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for process in started:
        if process.returncode is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(process.wait(), 10)


async def _publish(url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine",
        "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-c:a", "aac", "-t", "60", "-f", "flv", url)  # fmt: skip


def _target(page: Page, platform: str) -> Locator:
    return page.locator("#restream-list li.restream", has=page.locator(".platform", has_text=platform))


def _where(page: Page, url: str) -> Locator:
    return page.locator("#restream-list li.restream", has=page.locator(".ingest", has_text=url))


async def _add(page: Page, platform: str, key: str, url: str | None = None) -> None:
    await page.get_by_label("Platform").select_option(platform)
    if url is None:
        await expect(page.get_by_label("Server URL")).to_be_hidden()
    else:
        await page.get_by_label("Server URL").fill(url)
    await page.locator("#restream-key").fill(key)  # "Stream key" also labels the go-live form's field
    await page.get_by_role("button", name="Add target").click()
    await expect(page.locator("#restream-status")).to_contain_text("target added")
    await expect(page.locator("#restream-key")).to_have_value("")


async def _api_targets(http: aiohttp.ClientSession, headers: dict[str, str], slug: str) -> list[dict[str, Any]]:
    async with http.get(f"/api/rooms/{slug}/restreams", headers=headers) as r:
        assert r.status == 200, await r.text()
        targets: list[dict[str, Any]] = (await r.json())["restreams"]
        return targets


async def _no_key_in(page: Page) -> None:
    html = await page.content()
    for key in KEYS:
        assert key not in html


async def _room_events(url: str, frames: list[dict[str, Any]]) -> None:
    """Listen to the room as a guest would, keeping every frame."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                frames.append(json.loads(message.data))


async def test_owner_adds_toggles_removes_and_watches_targets(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess, nginx: Nginx,
        ffmpeg: list[asyncio.subprocess.Process]) -> None:
    headers = await bearer(http, "maya")
    room = await create_room(http, headers, "Simulcast Night")
    slug = room["slug"]
    page = await pages.open(f"/studio/{slug}", "maya", signup=False)
    await expect(page.locator("#restreams")).to_be_visible()
    await expect(page.locator("#restream-empty")).to_be_visible()

    # A URL the server refuses: its reason is shown, nothing is added, the key stays typed.
    await page.get_by_label("Platform").select_option("custom")
    await page.get_by_label("Server URL").fill("http://example.com/live")
    await page.locator("#restream-key").fill(CUSTOM_KEY)
    await page.get_by_role("button", name="Add target").click()
    await expect(page.locator("#restream-status")).to_contain_text("rtmp://")
    await expect(page.locator("#restream-status")).to_have_attribute("data-kind", "error")
    await expect(page.locator("#restream-list li.restream")).to_have_count(0)

    closed = f"rtmp://127.0.0.1:{free_port()}/app"
    await _add(page, "custom", CUSTOM_KEY, closed)
    await _add(page, "youtube", YOUTUBE_KEY)
    custom, youtube = _where(page, closed), _target(page, "YouTube")
    await expect(custom.locator(".key")).to_have_text("****y123")
    await expect(custom.locator(".restream-badge")).to_have_text("IDLE")
    await expect(youtube.locator(".key")).to_have_text("****9876")
    await expect(youtube.locator(".ingest")).to_have_text("rtmp://a.rtmp.youtube.com/live2")
    await expect(page.locator("#restream-empty")).to_be_hidden()
    await _no_key_in(page)
    await page.reload()  # what the server lists, not what the page remembered
    await expect(page.locator("#restream-list li.restream")).to_have_count(2)
    await expect(custom.locator(".key")).to_have_text("****y123")
    await _no_key_in(page)

    # Disable and enable: the switch, the "Disabled" tag and the server agree.
    switch = page.get_by_role("switch", name="Enabled: YouTube target")
    await expect(switch).to_be_checked()
    await switch.click()
    await expect(page.locator("#restream-status")).to_have_text("YouTube target disabled.")
    await expect(youtube.locator(".restream-off")).to_be_visible()
    assert [t["enabled"] for t in await _api_targets(http, headers, slug) if t["platform"] == "youtube"] == [False]
    await page.reload()
    await expect(switch).not_to_be_checked()
    await switch.click()
    await expect(page.locator("#restream-status")).to_have_text("YouTube target enabled.")
    await expect(youtube.locator(".restream-off")).to_be_hidden()
    assert [t["enabled"] for t in await _api_targets(http, headers, slug) if t["platform"] == "youtube"] == [True]

    # Remove (the YouTube target would reach for the real YouTube once live).
    await page.get_by_role("button", name="Remove YouTube target").click()
    await expect(youtube).to_have_count(0)
    assert [t["platform"] for t in await _api_targets(http, headers, slug)] == ["custom"]

    await _add(page, "custom", NGINX_KEY, nginx.url("yt"))
    good = _where(page, nginx.url("yt"))
    await expect(good.locator(".key")).to_have_text("****5555")
    await pages.shot(page, "studio-restreams-offline")

    # Go live like OBS; a guest listens to the room's events meanwhile.
    frames: list[dict[str, Any]] = []
    listener = asyncio.create_task(_room_events(f"{srv.ws_url}/ws/rooms/{slug}", frames))
    try:
        ffmpeg.append(await _publish(f"{srv.rtmp_url}/{room['stream_key']}"))
        await expect(good.locator(".restream-badge")).to_have_text("LIVE", timeout=SLOW)
        await expect(good.locator(".bitrate")).to_contain_text("bit/s", timeout=SLOW)
        await expect(good.locator(".uptime")).not_to_have_text("–")
        await expect(custom.locator(".restream-badge")).to_have_text("RETRYING", timeout=SLOW)
        await expect(custom.locator(".restream-detail")).to_contain_text("could not connect")
        await expect(custom.locator(".restream-detail")).to_contain_text("next attempt in")
        await expect(custom.locator(".reconnects")).not_to_have_text("0", timeout=SLOW)
        await _no_key_in(page)
        await pages.shot(page, "studio-restreams-live")

        ffmpeg[0].kill()  # the show ends (after the 2 s grace): every target stops
        await expect(good.locator(".restream-badge")).to_have_text("IDLE", timeout=SLOW)
        await expect(custom.locator(".restream-badge")).to_have_text("IDLE", timeout=SLOW)
        await expect(good.locator(".bitrate")).to_have_text("–")
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    guest = await pages.open(f"/studio/{slug}")  # the card is the owner's alone
    await expect(guest.locator("#studio")).to_be_visible()
    await expect(guest.locator("#restreams")).to_be_hidden()

    states = [f for f in frames if f.get("type") == "restream.state"]
    assert states, [f.get("type") for f in frames]
    assert {s["data"]["state"] for s in states} >= {"connecting", "live", "retrying", "idle"}
    text = json.dumps(frames) + srv.log()
    for key in KEYS:
        assert key not in text


async def _patch(http: aiohttp.ClientSession, headers: dict[str, str], slug: str, target_id: int,
                 enabled: bool) -> None:
    async with http.patch(f"/api/rooms/{slug}/restreams/{target_id}", json={"enabled": enabled},
                          headers=headers) as r:
        assert r.status == 200, await r.text()


async def test_studio_socket_brings_restream_state_events(
        pages: Pages, http: aiohttp.ClientSession, nginx: Nginx) -> None:
    """Live from the browser, the studio has its room socket open: a target toggled from
    elsewhere (another tab, the API) changes on the page through ``restream.state`` events."""
    headers = await bearer(http, "maya")
    room = await create_room(http, headers, "Browser Simulcast")
    slug = room["slug"]
    async with http.post(f"/api/rooms/{slug}/restreams", headers=headers,
                         json={"platform": "custom", "url": nginx.url("tw"), "key": NGINX_KEY}) as r:
        assert r.status == 201, await r.text()
        target_id = (await r.json())["id"]
    page = await pages.open(f"/studio/{slug}", "maya", signup=False)
    good = _where(page, nginx.url("tw"))
    await expect(good.locator(".key")).to_have_text("****5555")

    await page.get_by_role("button", name="Go live").click()
    await expect(page.locator("#socket-status")).to_have_text("Connected", timeout=SLOW)
    await expect(good.locator(".restream-badge")).to_have_text("LIVE", timeout=SLOW)
    await expect(page.locator("#preview")).to_be_visible()  # live from this page: its own camera
    await expect(page.locator("#stream-preview")).to_be_hidden()

    await _patch(http, headers, slug, target_id, False)
    await expect(good.locator(".restream-badge")).to_have_text("IDLE", timeout=SLOW)
    await _patch(http, headers, slug, target_id, True)
    await expect(good.locator(".restream-badge")).to_have_text("LIVE", timeout=SLOW)
    await expect(good.locator(".restream-off")).to_be_hidden()
    events = int(await good.get_attribute("data-events") or 0)
    assert events >= 2, "the state changes did not come over the studio's socket"
    await _no_key_in(page)
    await pages.shot(page, "studio-restreams-browser-live")
    await page.get_by_role("button", name="Stop").click()
    await expect(good.locator(".restream-badge")).to_have_text("IDLE", timeout=SLOW)
