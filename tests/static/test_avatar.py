"""The performer's avatar beside their name (issue 15): on the watch page and the room list, the
room's picture the owner set in the studio (its "Room page" card), else their initial. At a
phone's and a laptop's width."""

from __future__ import annotations

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.static.test_layout import SIZES, no_sideways_scroll
from tests.static.test_offline_state import png

LOADED = "(img) => img.complete && img.naturalWidth === 320"


async def test_the_performers_avatar_is_beside_their_name(pages: Pages, http: aiohttp.ClientSession) -> None:
    owner = await bearer(http, "maya")
    room = await create_room(http, owner, "Sunday Sessions")
    slug = room["slug"]

    fan = await pages.open(f"/watch/{slug}")
    by = fan.locator("#room-owner")
    await expect(by).to_have_text("with maya")
    await expect(by.locator(".avatar.initial")).to_have_attribute("data-initial", "M")
    home = await pages.open("/")
    listed = home.locator(f'#rooms li.room[data-slug="{slug}"] .by')
    await expect(listed).to_have_text(" by maya")
    await expect(listed.locator(".avatar.initial")).to_have_attribute("data-initial", "M")

    async with http.put(f"/api/rooms/{slug}/image", data=png(320, 320, (40, 120, 200)), headers=owner) as r:
        assert r.status == 200, await r.text()
    for page, owner_name in ((fan, by), (home, listed)):
        await page.reload()
        picture = owner_name.locator("img.avatar")
        await expect(picture).to_be_visible()
        await page.wait_for_function(LOADED, arg=await picture.element_handle())
        assert await picture.evaluate("img => img.getBoundingClientRect().width") == 28
        await expect(owner_name.locator(".avatar.initial")).to_have_count(0)
        for name, (width, height) in SIZES.items():
            await page.set_viewport_size({"width": width, "height": height})
            await no_sideways_scroll(page, f"avatar at {name}")
            await pages.shot(page, f"avatar-{'watch' if page is fan else 'index'}-{name}")
    await expect(by).to_have_text("with maya")
