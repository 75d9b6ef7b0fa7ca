"""Room-list thumbnails (issue 15): ffmpeg publishes a red picture over RTMP; the room list
shows a still of it (the latest keyframe, decoded by the server once per interval, however many
ask) and a placeholder while the room is offline, at a phone's and a laptop's width."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.media.test_thumbnail import mean_rgb
from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_layout import SIZES, no_sideways_scroll
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until

RED_SOURCE = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "color=c=0xdc1e1e:size=640x360:rate=30",
              "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-t", "90", "-f", "flv"]


async def _thumbnail(http: aiohttp.ClientSession, slug: str) -> tuple[int, bytes, str]:
    async with http.get(f"/api/rooms/{slug}/thumbnail.jpg") as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


async def _made(http: aiohttp.ClientSession) -> float:
    async with http.get("/metrics") as r:
        found = re.search(r'^nal_hub_thumbnails_total\{result="made"\} (\S+)$', await r.text(), re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    """The pages' server: one still an hour (so a second decode would show), a short grace."""
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 't.sqlite3'}",
                                         thumbnail_interval_s=3600, reconnect_grace_s=1)
    return proc


async def test_the_room_list_shows_a_still_of_the_live_stream(pages: Pages, srv: ServerProcess) -> None:
    async with aiohttp.ClientSession(base_url=srv.url) as http:
        room = await create_room(http, await bearer(http, "maya"), "Red Room")
        slug = room["slug"]
        status, body, _ = await _thumbnail(http, slug)
        assert status == 404 and b"no_thumbnail" in body

        page = await pages.open("/")
        item = page.locator(f'#rooms li.room[data-slug="{slug}"]')
        await expect(item.locator(".thumb.placeholder")).to_have_text("Offline")

        ffmpeg = await asyncio.create_subprocess_exec(*RED_SOURCE, f"{srv.rtmp_url}/{room['stream_key']}")
        try:
            status, jpeg, kind = await wait_until(lambda: _thumbnail(http, slug), lambda t: t[0] == 200, timeout=60)
            assert kind == "image/jpeg"
            size, (r, g, b) = mean_rgb(jpeg)
            assert size == (480, 270)  # --thumbnail-width's default, the picture's aspect kept
            assert r > 180 and g < 70 and b < 70, (r, g, b)
            for _ in range(10):  # served again, not decoded again: one still per interval
                assert (await _thumbnail(http, slug))[1] == jpeg
            assert await _made(http) == 1

            await page.get_by_role("button", name="Refresh").click()
            still = item.locator("img.thumb")
            await expect(still).to_be_visible()
            await page.wait_for_function("(img) => img.complete && img.naturalWidth === 480",
                                         arg=await still.element_handle())
            await expect(item.locator(".live-badge")).to_have_text("LIVE")
            for name, (width, height) in SIZES.items():
                await page.set_viewport_size({"width": width, "height": height})
                await no_sideways_scroll(page, f"room list with a thumbnail at {name}")
                await pages.shot(page, f"index-thumbnail-{name}")
        finally:
            if ffmpeg.returncode is None:
                ffmpeg.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(ffmpeg.wait(), 10)

        await wait_until(lambda: _thumbnail(http, slug), lambda t: t[0] == 404, timeout=30)
        await page.get_by_role("button", name="Refresh").click()
        await expect(item.locator(".thumb.placeholder")).to_have_text("Offline")
        await expect(item.locator("img.thumb")).to_have_count(0)
