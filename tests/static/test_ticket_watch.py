"""A gated room on a real ``notalabel serve`` with the sandbox provider, in Chromium: a fan
without a ticket sees the show's tiers and nothing plays (a guest's playlist fetch is 403);
they buy a standard ticket through the sandbox checkout, and back in the room the show plays
over LL-HLS with the viewing token while ffmpeg publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_live_player import publisher  # noqa: F401 - the ffmpeg fixture
from tests.support.servers import ServerProcess

SLOW = 30_000
TIME = "() => document.getElementById('video').currentTime"


async def ticketed_room(http: aiohttp.ClientSession) -> tuple[dict[str, Any], dict[str, Any]]:
    owner = await bearer(http, "olga")
    room = await create_room(http, owner, "Album Night")
    async with http.post(f"/api/rooms/{room['slug']}/shows", headers=owner,
                         json={"title": "Album launch", "starts_at": "2030-05-01T20:00:00Z"}) as r:
        assert r.status == 201, await r.text()
        show = await r.json()
    async with http.post(f"/api/shows/{show['id']}/tiers", headers=owner,
                         json={"name": "Standard", "price": 1500}) as r:
        assert r.status == 201, await r.text()
    return room, show


async def stream_live(http: aiohttp.ClientSession, slug: str) -> None:
    for _ in range(300):  # bounded: 30 s
        async with http.get(f"/api/rooms/{slug}/stream") as r:
            if (await r.json()).get("state") == "live":
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the stream never went live")


async def test_fan_buys_a_ticket_and_the_show_plays(pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess,
                                                    publisher: Callable[[str], Any]) -> None:  # noqa: F811
    room, _show = await ticketed_room(http)
    slug = room["slug"]
    # The test runs long (checkout, My tickets, a second device): on a loaded 2-core box past
    # 60 s, so the source lasts longer (it is killed at teardown).
    await publisher(f"{srv.rtmp_url}/{room['stream_key']}", seconds=240)
    await stream_live(http, slug)
    async with http.get(f"/live/{slug}/index.m3u8") as r:
        assert r.status == 403, await r.text()

    fan = await pages.open(f"/watch/{slug}", "fanny")
    video = fan.locator("#video")
    buy = fan.get_by_role("button", name="Buy Standard ($15.00)")
    await expect(buy).to_be_enabled()
    await expect(video).to_have_attribute("data-state", "ended")
    await expect(fan.locator("#player-overlay")).to_have_text("A ticket is needed to watch this show.")
    assert await fan.evaluate("() => document.getElementById('video').currentSrc") == ""
    await pages.shot(fan, "ticket-watch-no-ticket")

    await buy.click()
    await fan.wait_for_url("**/sandbox/checkout/**")
    await fan.get_by_role("button", name="Pay", exact=True).click()
    await fan.wait_for_url(f"**/watch/{slug}*")
    await expect(video).to_have_attribute("data-state", "live", timeout=SLOW)
    await expect(fan.locator("#tickets")).to_be_hidden()
    assert f"/live/{slug}/vt/" in await fan.evaluate("() => document.getElementById('video').currentSrc")
    start = await fan.evaluate(TIME)
    await fan.wait_for_function(f"() => document.getElementById('video').currentTime > {start} + 2", timeout=SLOW)
    await expect(video).to_have_attribute("data-state", "live")
    await pages.shot(fan, "ticket-watch-playing")

    await fan.goto("/")
    mine = fan.locator("#my-tickets")
    await expect(mine.get_by_role("link", name="Album launch")).to_have_attribute("href", f"/watch/{slug}")
    await expect(mine).to_contain_text("Standard")
    await mine.get_by_role("link", name="Album launch").click()
    await expect(video).to_have_attribute("data-state", "live", timeout=SLOW)  # no dialog: pages.check()

    other = await (await pages.context("fanny", signup=False)).new_page()
    asked: list[str] = []

    async def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    other.on("dialog", accept)
    await other.goto(f"/watch/{slug}")
    await expect(other.locator("#video")).to_have_attribute("data-state", "live", timeout=SLOW)
    assert asked and "Watch here instead?" in asked[0], asked
    await expect(video).to_have_attribute("data-state", "ended")
    await expect(fan.locator("#player-overlay")).to_have_text("This ticket is now watching on another device.")
