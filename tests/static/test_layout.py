"""Every page at a phone's width (390 x 844) and a laptop's (1280 x 800) in headless Chromium:
no horizontal scroll and no console errors (the ``pages`` fixture fails on those), with a
full-page screenshot of each (issue 15 item 9, "How to check it"). Screenshots go to the
test's tmp dir (``NAL_SHOTS=dir`` keeps them elsewhere)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from server.pages import PAGES
from tests.static.conftest import Pages, csrf

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
ROOM_PAGES = sorted(route for route in PAGES if set(re.findall(r"{(\w+)}", route)) <= {"slug"})
OPEN = "#socket-status[data-state=open], #room-notice:not([hidden])"
READY = {"/": "#rooms li", "/watch/{slug}": OPEN, "/studio/{slug}": OPEN, "/moderate/{slug}": OPEN,
         "/embed/{slug}": OPEN}

WIDEST = """() => {
  const width = document.documentElement.clientWidth;
  const over = [...document.querySelectorAll('body *')]
    .filter((node) => node.getBoundingClientRect().right > width + 1 && getComputedStyle(node).position !== 'fixed')
    .map((node) => `${node.tagName.toLowerCase()}${node.id ? '#' + node.id : ''}.${[...node.classList].join('.')}`
      + ` right=${Math.round(node.getBoundingClientRect().right)}`);
  return {scroll: document.documentElement.scrollWidth, width, over: over.slice(0, 12)};
}"""


async def no_sideways_scroll(page: Page, label: str) -> None:
    seen: dict[str, Any] = await page.evaluate(WIDEST)
    assert seen["scroll"] <= seen["width"], f"{label}: {seen['scroll']} px of layout in {seen['width']} px: {seen['over']}"


async def owner_with_room(pages: Pages) -> tuple[Any, dict[str, Any]]:
    ctx = await pages.context("layout")
    headers = {"X-CSRF-Token": await csrf(ctx)}
    r = await ctx.request.post("/api/rooms", data={"title": "A rather long show title that has to wrap on a phone"},
                               headers=headers)
    assert r.status == 201, await r.text()
    room: dict[str, Any] = await r.json()
    r = await ctx.request.post(f"/api/rooms/{room['slug']}/songs", headers=headers,
                               data={"title": "A song with a long title, longer than a phone is wide", "artist": "Band"})
    assert r.status == 201
    return ctx, room


async def sized(pages: Pages, path: str, ctx: Any, size: tuple[int, int]) -> Page:
    page = await pages.open(path, ctx=ctx)
    await page.set_viewport_size({"width": size[0], "height": size[1]})
    return page


@pytest.mark.parametrize("size", list(SIZES))
async def test_every_page_fits_without_sideways_scroll(pages: Pages, size: str) -> None:
    ctx, room = await owner_with_room(pages)
    guest = await pages.context()
    for route in ROOM_PAGES:
        path = route.replace("{slug}", room["slug"])
        for who, context in (("owner", ctx), ("guest", guest)):
            page = await sized(pages, path, context, SIZES[size])
            await expect(page.locator(READY.get(route, "body")).first).to_be_attached()
            label = f"{route} as {who} at {size}"
            await no_sideways_scroll(page, label)
            await pages.shot(page, f"layout-{size}-{who}-{route.strip('/').split('/')[0] or 'index'}")
            await page.close()
    overlay = await sized(pages, f"/overlay/{room['slug']}?key={room['overlay_key']}&chat=1", ctx, SIZES[size])
    await no_sideways_scroll(overlay, f"overlay at {size}")
    await pages.shot(overlay, f"layout-{size}-overlay")


ID_PAGES = sorted(route for route in PAGES if route not in ROOM_PAGES)
ID_READY = {"/studio/{slug}/shows/{show_id}": "main", "/replay/{show_id}": "main", "/invite/{token}": "main"}


async def show_with_invitation(ctx: Any, room: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A show with a tier in the owner's room, and a split sheet naming a songwriter who has no
    account yet, so the invitation page has a real token."""
    headers = {"X-CSRF-Token": await csrf(ctx)}
    r = await ctx.request.post(f"/api/rooms/{room['slug']}/shows", headers=headers,
                               data={"title": "A launch night with a title that wraps on a phone",
                                     "starts_at": "2030-05-01T20:00:00Z"})
    assert r.status == 201, await r.text()
    show: dict[str, Any] = await r.json()
    r = await ctx.request.post(f"/api/shows/{show['id']}/tiers", headers=headers,
                               data={"name": "Standard with replay", "price": 1500, "replay": True})
    assert r.status == 201, await r.text()
    me = await (await ctx.request.get("/api/me")).json()
    r = await ctx.request.put(f"/api/rooms/{room['slug']}/split-sheet", headers=headers, data={"lines": [
        {"username": me["username"], "role": "artist", "bps": 8_000},
        {"name": "Ann Writer", "email": "ann@example.com", "role": "songwriter", "bps": 2_000}]})
    assert r.status == 200, await r.text()
    [invite] = (await r.json())["invitations"]
    return show, str(invite["invite_url"]).rsplit("/", 1)[1]


@pytest.mark.parametrize("size", list(SIZES))
async def test_pages_of_a_show_and_an_invitation_fit(pages: Pages, size: str) -> None:
    """The pages that take an id rather than a room (the post-show page, the replay, the
    songwriter's invitation) at both sizes, for the owner and for a guest."""
    assert set(ID_PAGES) == set(ID_READY), "a new page needs a line in ID_READY"
    ctx, room = await owner_with_room(pages)
    show, token = await show_with_invitation(ctx, room)
    guest = await pages.context()
    values = {"slug": room["slug"], "show_id": show["id"], "token": token}
    for route in ID_PAGES:
        path = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), route)
        for who, context in (("owner", ctx), ("guest", guest)):
            page = await sized(pages, path, context, SIZES[size])
            await expect(page.locator(ID_READY[route]).first).to_be_visible()
            await page.wait_for_load_state("networkidle")
            await no_sideways_scroll(page, f"{route} as {who} at {size}")
            await pages.shot(page, f"layout-{size}-{who}-{route.strip('/').replace('/', '-')}")
            await page.close()
