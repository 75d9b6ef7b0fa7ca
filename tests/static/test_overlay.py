"""The OBS overlay page in headless Chromium, on an in-process server whose gateway the test
publishes room events through (as the payments router does when a tip is paid).

The overlay must show each alert exactly once, even when its socket drops and recovers and
an event comes again; a wrong key gets a 403 and no page.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.inproc import InProcess


def tip(tid: str, amount: int = 500, sender: str = "fay", message: str = "") -> dict[str, Any]:
    return {"id": tid, "from": sender, "amount": amount, "currency": "USD", "message": message}


async def shown(page: Page) -> list[str]:
    ids: list[str] = await page.evaluate("() => window.nal.alerts.shown")
    return ids


async def idle(page: Page) -> None:
    """Wait until the queue is empty and nothing is on screen."""
    await page.wait_for_function(
        "() => { const a = window.nal.alerts; return !a.current && a.queue.length === 0; }")


async def open_overlay(opages: Pages, room: dict[str, Any], query: str = "display=1&gap=0") -> Page:
    page = await opages.open(f"/overlay/{room['slug']}?key={room['overlay_key']}&{query}")
    await page.wait_for_function("() => window.nal && window.nal.socket.state === 'open'")
    return page


async def test_alert_shows_once_across_a_reconnect(opages: Pages, ohttp: aiohttp.ClientSession,
                                                   inproc: InProcess) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Overlay Night")
    slug = room["slug"]
    await inproc.publish(slug, "tip", tip("t0", message="before the page"), "tip:t0")
    page = await open_overlay(opages, room)
    assert await page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"

    await inproc.publish(slug, "tip", tip("t1", message="for the bridge"), "tip:t1")
    alert = page.locator('.alert[data-id="tip:t1"]')
    await expect(alert).to_be_visible()
    await expect(alert.locator(".title")).to_have_text("fay tipped $5.00")
    await expect(alert.locator(".message")).to_have_text("for the bridge")
    await opages.shot(page, "overlay-tip")
    await idle(page)

    # The socket drops; while it is away a new tip and a redelivery of t1 (a new bus event,
    # as when a webhook is retried after the bus forgot its idempotency key) are published.
    await page.evaluate("() => window.nal.socket.ws.close()")
    await page.wait_for_function("() => window.nal.socket.state === 'reconnecting'")
    await inproc.publish(slug, "tip", tip("t2", amount=700, sender="finn"), "tip:t2")
    await inproc.publish(slug, "tip", tip("t1", message="for the bridge"), "tip:t1:again")
    await page.wait_for_function("() => window.nal.socket.state === 'open'")
    await expect(page.locator('.alert[data-id="tip:t2"] .title')).to_have_text("finn tipped $7.00")
    await idle(page)
    test_id = await post_test_alert(ohttp, slug, owner)
    await expect(page.locator(f'.alert[data-id="test:{test_id}"]')).to_be_visible()
    await idle(page)
    assert await shown(page) == ["tip:t1", "tip:t2", f"test:{test_id}"]  # t0 was before the page


async def post_test_alert(http: aiohttp.ClientSession, slug: str, headers: dict[str, str]) -> str:
    async with http.post(f"/api/rooms/{slug}/overlay/test-alert", json={"amount": 250},
                         headers=headers) as r:
        assert r.status == 202, await r.text()
        return str((await r.json())["id"])


async def test_fifo_threshold_refund_and_hidden_message(opages: Pages, ohttp: aiohttp.ClientSession,
                                                        inproc: InProcess) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Queue Night")
    slug = room["slug"]
    page = await open_overlay(opages, room, "display=1&gap=0&min=300&chat=1")
    await inproc.publish(slug, "tip", tip("a", amount=500, message="first"), "tip:a")
    await inproc.publish(slug, "tip", tip("small", amount=100), "tip:small")
    await inproc.publish(slug, "tip", tip("b", amount=400, message="rude"), "tip:b")
    await inproc.publish(slug, "tip", tip("c", amount=600), "tip:c")
    await inproc.publish(slug, "tip.hidden", {"id": "b"})
    await inproc.publish(slug, "tip.refunded", {"id": "c"})
    await expect(page.locator('.alert[data-id="tip:a"]')).to_be_visible()
    await expect(page.locator('.alert[data-id="tip:b"]')).to_be_visible()
    await expect(page.locator('.alert[data-id="tip:b"] .message')).to_have_count(0)
    await idle(page)
    assert await shown(page) == ["tip:a", "tip:b"]  # below the threshold, refunded: no alert

    # A boost alerts with the song's title; chat=1 shows the recent chat, hidden lines go.
    await inproc.publish(slug, "song.boost", {"request_id": "r1", "boost_id": "b1", "amount": 300,
                                              "currency": "USD", "from": "bob"}, "boost:b1")
    await expect(page.locator('.alert[data-id="boost:b1"] .title')).to_have_text("bob boosted $3.00")
    for mid, text in (("m1", "first line"), ("m2", "second line")):
        message = {"id": mid, "user": {"id": 3, "name": "fay", "role": "fan"}, "text": text, "ts": 1.0}
        await inproc.publish(slug, "chat.message", message)
    await expect(page.locator("#overlay-chat li .text")).to_have_text(["first line", "second line"])
    await inproc.publish(slug, "chat.hidden", {"message_ids": ["m1"]})
    await expect(page.locator("#overlay-chat li .text")).to_have_text(["second line"])
    await opages.shot(page, "overlay-chat")


async def test_wrong_key_gets_403_and_no_page(opages: Pages, ohttp: aiohttp.ClientSession) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Locked")
    ctx = await opages.context()
    page = await ctx.new_page()
    for query in ("?key=ovl_wrong", ""):
        response = await page.goto(f"/overlay/{room['slug']}{query}")
        assert response is not None and response.status == 403
        assert await page.locator("#alerts").count() == 0
        assert "Locked" not in await page.content()
