"""Signed-in pages open the room socket with a single-use ticket, never a token in the URL."""

from __future__ import annotations

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room


async def test_signed_in_page_uses_a_ticket_and_a_guest_page_none(pages: Pages, http: aiohttp.ClientSession) -> None:
    room = await create_room(http, await bearer(http, "owner1"), "Ticket Room")
    slug = room["slug"]
    ctx = await pages.context("alice")
    session = next(c.get("value", "") for c in await ctx.cookies() if c.get("name") == "nal_session")
    page = await ctx.new_page()
    urls: list[str] = []
    page.on("websocket", lambda ws: urls.append(ws.url))
    await page.goto(f"/watch/{slug}")
    await expect(page.locator("#socket-status")).to_have_text("Connected")
    await page.get_by_label("Message", exact=True).fill("hello by ticket")
    await page.get_by_role("button", name="Send").click()
    line = page.locator("#chat-log li.msg").last
    await expect(line.locator(".text")).to_have_text("hello by ticket")
    await expect(line.locator(".name")).to_have_text("alice")
    assert len(urls) == 1 and "ticket=tkt_" in urls[0], urls
    assert "token=" not in urls[0] and session not in urls[0]

    guest_ctx = await pages.context(None)
    guest = await guest_ctx.new_page()
    guest_urls: list[str] = []
    guest.on("websocket", lambda ws: guest_urls.append(ws.url))
    await guest.goto(f"/watch/{slug}")
    await expect(guest.locator("#socket-status")).to_have_text("Connected")
    assert guest_urls and "ticket=" not in guest_urls[0]
