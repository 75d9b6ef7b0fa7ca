"""The watch page while the room is offline (issue 15): the room's image over the empty player,
its description and the next show, set by the owner in the studio; all of it goes when the
room goes live (ffmpeg publishing over RTMP). At a phone's and a laptop's width."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_layout import SIZES, no_sideways_scroll
from tests.static.test_live_player import ffmpeg_args
from tests.support.servers import ServerProcess


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def test_the_offline_watch_page_shows_the_room_and_its_next_show(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess, tmp_path: Path) -> None:
    owner = await bearer(http, "maya")
    room = await create_room(http, owner, "Sunday Sessions")
    slug = room["slug"]
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with http.post(f"/api/rooms/{slug}/shows", headers=owner,
                         json={"title": "Album release <night>", "starts_at": starts.isoformat()}) as r:
        assert r.status == 201, await r.text()

    studio = await pages.open(f"/studio/{slug}", "maya", signup=False)
    await studio.get_by_label("Description").fill("Folk from the north.\nEvery Sunday at eight.")
    await studio.get_by_role("button", name="Save description").click()
    await expect(studio.locator("#profile-status")).to_have_text("Description saved.")
    picture = tmp_path / "room.png"
    picture.write_bytes(png(320, 180, (40, 120, 200)))
    await studio.get_by_label("Image (PNG, JPEG or WebP, at most 1 MB)").set_input_files(str(picture))
    await expect(studio.locator("#profile-status")).to_have_text("Image saved.")
    await expect(studio.locator("#room-image-preview")).to_be_visible()
    await pages.shot(studio, "studio-room-page")

    fan = await pages.open(f"/watch/{slug}")
    await expect(fan.locator("#video")).to_have_attribute("data-state", "offline")
    image = fan.locator("#room-image")
    await expect(image).to_be_visible()
    await fan.wait_for_function("(img) => img.complete && img.naturalWidth === 320", arg=await image.element_handle())
    await expect(fan.locator("#next-show")).to_contain_text("Next show: ")
    await expect(fan.locator("#next-show")).to_contain_text(" · Album release <night>")
    shown_at = await fan.evaluate("() => Date.parse(document.getElementById('next-show').dataset.startsAt)")
    assert shown_at == int(starts.timestamp() * 1000)
    await expect(fan.locator("#room-description")).to_have_text("Folk from the north.\nEvery Sunday at eight.")
    for name, (width, height) in SIZES.items():
        await fan.set_viewport_size({"width": width, "height": height})
        await no_sideways_scroll(fan, f"offline watch page at {name}")
        await pages.shot(fan, f"watch-offline-{name}")

    ffmpeg = await asyncio.create_subprocess_exec(*ffmpeg_args(f"{srv.rtmp_url}/{room['stream_key']}"))
    try:
        await expect(fan.locator("#video")).to_have_attribute("data-state", "live", timeout=60_000)
        await expect(fan.locator("#room-image")).to_be_hidden()
        await expect(fan.locator("#offline-card")).to_be_hidden()
    finally:
        if ffmpeg.returncode is None:
            ffmpeg.kill()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(ffmpeg.wait(), 10)
