"""The studio as the performer's show control panel, in headless Chromium (issue 15 items 2, 4, 8)."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import aiohttp
from playwright.async_api import expect

from tests.server.test_live import ffmpeg_publish
from tests.static.conftest import Pages, csrf
from tests.support.servers import ServerProcess

SLOW = 30_000


async def owner_room(pages: Pages, username: str, title: str) -> tuple[Any, dict[str, Any]]:
    ctx = await pages.context(username)
    r = await ctx.request.post("/api/rooms", data={"title": title}, headers={"X-CSRF-Token": await csrf(ctx)})
    assert r.status == 201, await r.text()
    return ctx, await r.json()


async def test_studio_follows_an_obs_stream_and_counts_only_fans(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess) -> None:
    ctx, room = await owner_room(pages, "olga", "OBS Show")
    slug = room["slug"]
    studio = await pages.open(f"/studio/{slug}", ctx=ctx)
    await expect(studio.locator("#studio-state")).to_have_text("OFFLINE")
    await expect(studio.locator("#socket-status")).to_have_text("Connected", timeout=SLOW)
    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{room['stream_key']}", seconds=120)
    try:
        await expect(studio.locator("#studio-state")).to_have_text("LIVE", timeout=SLOW)
        # Live from OBS: the preview is the live stream (the watch page's player), muted.
        preview = studio.locator("#stream-preview")
        await expect(preview).to_be_visible(timeout=SLOW)
        await expect(studio.locator("#preview")).to_be_hidden()
        await expect(preview).to_have_attribute("data-state", "live", timeout=SLOW)
        await studio.wait_for_function(
            "() => { const v = document.getElementById('stream-preview');"
            " return v.videoWidth === 640 && v.currentTime > 1; }", timeout=SLOW)
        start = float(await preview.evaluate("v => v.currentTime"))
        await studio.wait_for_function(
            f"() => document.getElementById('stream-preview').currentTime > {start} + 1", timeout=SLOW)
        assert await preview.evaluate("v => v.muted") is True
        await expect(studio.locator("#stream-unmute")).to_be_visible()
        await pages.shot(studio, "studio-preview-obs-stream")
        await pages.open(f"/watch/{slug}", ctx=ctx)  # the performer's own second tab: not a viewer
        fan = await pages.open(f"/watch/{slug}", "fanny")
        await expect(fan.locator("#live-badge")).to_have_text("LIVE", timeout=SLOW)
        await expect(studio.locator("#viewers")).to_have_text("1", timeout=SLOW)
        await fan.locator("#chat-input").fill("hello from the crowd")
        await fan.locator("#chat-input").press("Enter")
        await expect(studio.locator("#chat-log li.msg .text").last).to_have_text("hello from the crowd")
        await expect(studio.locator("#studio-chat")).to_be_visible()
        await expect(studio.locator("#health-advice")).to_have_text("All good.", timeout=SLOW)
        await expect(studio.locator("#health-facts")).to_contain_text("30 fps")
        await pages.shot(studio, "studio-live-from-obs")
        async with http.get("/api/rooms") as r:
            listed = next(x for x in (await r.json())["rooms"] if x["slug"] == slug)
        assert listed["live"] is True and listed["stream_state"] == "live" and listed["viewers"] == 1
        home = await pages.open("/")
        listed_item = home.locator(f'#rooms li[data-slug="{slug}"]')
        await expect(listed_item.locator(".live-badge")).to_have_text("LIVE")
        await expect(listed_item.locator(".viewers")).to_have_text(" · 1 watching")
        publisher.kill()
        await asyncio.to_thread(publisher.wait, 10)
        await expect(studio.locator("#studio-state")).not_to_have_text("LIVE", timeout=SLOW)
        await expect(studio.locator("#studio-state")).to_have_text("OFFLINE", timeout=SLOW)
        await expect(studio.locator("#preview")).to_be_visible()  # the browser camera again
        await expect(studio.locator("#stream-preview")).to_be_hidden()
        await expect(studio.locator("#stream-preview-overlay")).to_be_hidden()
    finally:
        if publisher.poll() is None:
            publisher.kill()
        publisher.wait(10)


async def test_studio_runs_the_catalog_and_the_request_queue(pages: Pages) -> None:
    ctx, room = await owner_room(pages, "sam", "Requests Night")
    slug = room["slug"]
    studio = await pages.open(f"/studio/{slug}", ctx=ctx)
    await expect(studio.locator("#socket-status")).to_have_text("Connected", timeout=SLOW)
    await studio.locator("#song-title").fill("Blue Hours")
    await studio.locator("#song-artist").fill("Sam")
    await studio.get_by_role("button", name="Add song").click()
    await expect(studio.locator("#catalog li.song-row .title")).to_have_text(["Blue Hours"])
    await studio.get_by_role("button", name="Edit Blue Hours").click()
    await expect(studio.locator("#song-title")).to_have_value("Blue Hours")
    await studio.locator("#song-title").fill("Blue Hour")
    await studio.get_by_role("button", name="Save song").click()
    await expect(studio.locator("#catalog li.song-row .title")).to_have_text(["Blue Hour"])
    await expect(studio.get_by_role("button", name="Add song")).to_be_visible()

    fan = await pages.open(f"/watch/{slug}", "fanny")
    await fan.get_by_role("button", name="Request Blue Hour").click()
    request = studio.locator("#queue li.request")
    await expect(request.locator(".title")).to_have_text("Blue Hour")
    await expect(request.locator(".by")).to_have_text("asked by fanny")
    await studio.get_by_role("button", name="Play Blue Hour").click()
    await expect(fan.locator("#queue li.request.playing .title")).to_have_text("Blue Hour")
    await pages.shot(studio, "studio-queue")
    await studio.get_by_role("button", name="Done with Blue Hour").click()
    await expect(fan.locator("#queue")).to_contain_text("No requests yet.")
    await expect(studio.locator("#queue")).to_contain_text("No requests yet.")


def long_gop_publish(url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "180", "-keyint_min", "180",
         "-sc_threshold", "0", "-c:a", "aac", "-t", "120", "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_studio_stream_health_says_what_to_fix_in_obs(pages: Pages, srv: ServerProcess) -> None:
    ctx, room = await owner_room(pages, "gopher", "Long GOP Show")
    studio = await pages.open(f"/studio/{room['slug']}", ctx=ctx)
    await expect(studio.locator("#health")).to_be_hidden()
    # Like OBS left at a keyframe every 6 s (180 frames at 30 fps).
    publisher = long_gop_publish(f"{srv.rtmp_url}/{room['stream_key']}")
    try:
        await expect(studio.locator("#health")).to_be_visible(timeout=SLOW)
        await expect(studio.locator("#health-facts")).to_contain_text("640x360")
        await expect(studio.locator("#health-advice")).to_contain_text(
            "Keyframe interval 6 s: set it to 2 s in OBS", timeout=40_000)
        await pages.shot(studio, "studio-health-advice")
    finally:
        publisher.kill()
        publisher.wait(10)
