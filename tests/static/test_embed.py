"""The embeddable player /embed/{slug} (issue 15) in headless Chromium: another site (a second
HTTP server on its own port, so another origin) pastes the studio's <iframe> code; the player
plays the live stream inside it (ffmpeg publishing over RTMP), with the chat only when the code
asks for it. Every other page refuses to be framed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Frame, Page, expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_live_player import ffmpeg_args
from tests.support.servers import ServerProcess, bound_socket


class Site:
    """A third-party page whose body is set by the test."""

    def __init__(self) -> None:
        self.body = ""
        self.url = ""


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    page = Site()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=f"<!doctype html><html><body><h1>A fan site</h1>{page.body}</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    page.url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    try:
        yield page
    finally:
        await runner.cleanup()


async def _frame(page: Page, path: str) -> Frame:
    for _ in range(200):
        found = next((f for f in page.frames if path in f.url), None)
        if found is not None:
            return found
        await page.wait_for_timeout(50)
    raise AssertionError(f"no frame at {path}: {[f.url for f in page.frames]}")


async def test_framing_headers(http: aiohttp.ClientSession, srv: ServerProcess) -> None:
    room = await create_room(http, await bearer(http, "maya"), "Framed")
    async with http.get(f"/embed/{room['slug']}") as r:
        assert r.status == 200
        assert r.headers["Content-Security-Policy"].endswith("; frame-ancestors *")
        assert "X-Frame-Options" not in r.headers
    for path in ("/", f"/watch/{room['slug']}", f"/studio/{room['slug']}", f"/moderate/{room['slug']}",
                 f"/overlay/{room['slug']}?key={room['overlay_key']}"):
        async with http.get(path) as r:
            assert r.status == 200, path
            assert r.headers["X-Frame-Options"] == "DENY", path
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path


async def test_another_site_embeds_the_player_from_the_studio_code(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess, site: Site) -> None:
    room = await create_room(http, await bearer(http, "maya"), "Embedded Show")
    slug = room["slug"]
    studio = await pages.open(f"/studio/{slug}", "maya", signup=False)
    code = studio.locator("#embed-code")
    await expect(code).to_contain_text(f'src="{srv.url}/embed/{slug}"')
    plain = await code.text_content()
    await studio.get_by_label("With the chat").check()
    await expect(code).to_contain_text(f'src="{srv.url}/embed/{slug}?chat=1"')
    with_chat = await code.text_content()
    await pages.shot(studio, "studio-embed-code")

    pages.allow("frame-ancestors 'none'")  # the watch page refusing to be framed, below
    site.body = f"{plain}{with_chat}<iframe id='watch' src='{srv.url}/watch/{slug}'></iframe>"
    host = await pages.open(site.url)
    player = await _frame(host, f"/embed/{slug}")
    chatty = await _frame(host, f"/embed/{slug}?chat=1")
    for frame in (player, chatty):
        await expect(frame.locator("#live-badge")).to_have_text("OFFLINE")
        await expect(frame.locator("#room-title")).to_have_text("Embedded Show · maya")
        await expect(frame.locator("#room-title")).to_have_attribute("target", "_blank")
    await expect(player.locator("#embed-chat")).to_be_hidden()
    await expect(chatty.locator("#embed-chat")).to_be_visible()
    await expect(chatty.locator("#chat-note")).to_contain_text("Sign in to chat")
    watch = await (await host.locator("#watch").element_handle()).content_frame()
    assert watch is not None and watch.url.startswith("chrome-error:"), watch and watch.url  # refused

    ffmpeg = await asyncio.create_subprocess_exec(*ffmpeg_args(f"{srv.rtmp_url}/{room['stream_key']}"))
    try:
        for frame in (player, chatty):
            await expect(frame.locator("#video")).to_have_attribute("data-state", "live", timeout=60_000)
            await expect(frame.locator("#live-badge")).to_have_text("LIVE")
            await frame.wait_for_function("() => { const v = document.getElementById('video');"
                                          " return !v.paused && v.readyState >= 3 && v.videoWidth === 640; }",
                                          timeout=60_000)
        await expect(player.locator("#unmute")).to_be_visible()
        await pages.shot(host, "embed-on-another-site")
    finally:
        if ffmpeg.returncode is None:
            ffmpeg.kill()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(ffmpeg.wait(), 10)
