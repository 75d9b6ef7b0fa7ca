""""Now playing" on the watch page and in the OBS overlay (issue 15): the request a host marks
playing shows with its artist and its writers from the catalog, on every page at once, for a
fan who opens the page later too, and goes when the host is done with it."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.support.servers import ServerProcess

WRITERS = [{"name": "Ada <Lovelace>", "share_bps": 6000}, {"name": "Grace Hopper", "share_bps": 4000}]


async def _socket(http: aiohttp.ClientSession, srv: ServerProcess, slug: str, headers: dict[str, str]) -> Any:
    token = headers["Authorization"].split()[1]
    ws = await http.ws_connect(f"{srv.ws_url}/ws/rooms/{slug}?token={token}")
    assert (await ws.receive_json(timeout=10))["type"] == "snapshot"
    return ws


async def _op(ws: Any, op: str, **fields: Any) -> dict[str, Any]:
    """Send one op and return its ack (events on the way are passed over)."""
    await ws.send_json({"op": op, "id": op, **fields})
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=10)
        if frame.get("id") == op:
            assert frame["type"] == "ack", frame
            return frame


async def _queue(ws: Any) -> list[dict[str, Any]]:
    while True:
        frame = await ws.receive_json(timeout=10)
        if frame.get("type") == "song.queue":
            queue: list[dict[str, Any]] = frame["data"]["queue"]
            return queue


async def test_now_playing_on_the_watch_page_and_the_overlay(pages: Pages, http: aiohttp.ClientSession,
                                                             srv: ServerProcess) -> None:
    owner = await bearer(http, "maya")
    room = await create_room(http, owner, "Request Night")
    slug = room["slug"]
    async with http.post(f"/api/rooms/{slug}/songs", headers=owner,
                         json={"title": "Blue <Hour>", "artist": "The Band", "writers": WRITERS}) as r:
        assert r.status == 201, await r.text()
        song = await r.json()
    watch = await pages.open(f"/watch/{slug}")
    overlay = await pages.open(f"/overlay/{slug}?key={room['overlay_key']}")
    hidden_overlay = await pages.open(f"/overlay/{slug}?key={room['overlay_key']}&playing=0")
    for page in (watch, overlay, hidden_overlay):
        await page.wait_for_function("() => window.nal && window.nal.socket.state === 'open'")
    await expect(watch.locator("#now-playing")).to_be_hidden()
    await expect(overlay.locator("#now-playing")).to_be_hidden()

    fan_ws = await _socket(http, srv, slug, await bearer(http, "fan1"))
    staff_ws = await _socket(http, srv, slug, owner)
    try:
        await _op(fan_ws, "song.request", song_id=song["id"])
        request_id = (await _queue(staff_ws))[0]["id"]
        await _op(staff_ws, "song.play", request_id=request_id)
        late = await pages.open(f"/watch/{slug}")  # told by the snapshot, not by an event
        for page in (watch, overlay, late):
            box = page.locator("#now-playing")
            await expect(box).to_be_visible()
            await expect(box.locator(".np-label")).to_have_text("Now playing")
            await expect(box.locator(".np-title")).to_have_text("Blue <Hour>")
            await expect(box.locator(".np-artist")).to_have_text(" · The Band")
            await expect(box.locator(".np-writers")).to_have_text("Written by Ada <Lovelace>, Grace Hopper")
        await expect(hidden_overlay.locator("#now-playing")).to_be_hidden()
        await pages.shot(watch, "watch-now-playing")
        await pages.shot(overlay, "overlay-now-playing")

        await _op(staff_ws, "song.done", request_id=request_id)
        for page in (watch, overlay, late):
            await expect(page.locator("#now-playing")).to_be_hidden()
    finally:
        await fan_ws.close()
        await staff_ws.close()
