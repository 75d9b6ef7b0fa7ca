"""End to end on a real ``notalabel serve`` with the sandbox provider (no configuration):
a fan tips through the sandbox checkout page in Chromium, and the tip shows in another
viewer's chat and on the OBS overlay page; the fan comes back to the room.
"""

from __future__ import annotations

import aiohttp
from playwright.async_api import Page, expect

from tests.static.conftest import Pages, bearer, create_room


async def connected(page: Page) -> None:
    await expect(page.locator("#socket-status")).to_have_text("Connected")


async def test_fan_tips_through_the_sandbox_checkout(pages: Pages, http: aiohttp.ClientSession) -> None:
    owner = await bearer(http, "olga")
    room = await create_room(http, owner, "Paid Night")
    slug = room["slug"]
    alice = await pages.open(f"/watch/{slug}", "alice")
    bob = await pages.open(f"/watch/{slug}", "bob")
    overlay = await pages.open(f"/overlay/{slug}?key={room['overlay_key']}&display=30")
    await connected(alice)
    await connected(bob)
    await overlay.wait_for_function("() => window.nal && window.nal.socket.state === 'open'")

    await alice.get_by_role("button", name="Tip", exact=True).click()
    await alice.locator("#pay-dialog").get_by_role("button", name="$5.00").click()
    await alice.get_by_label("Message (optional)").fill("from the front row")
    await alice.get_by_role("button", name="Tip: continue to payment").click()
    await alice.wait_for_url("**/sandbox/checkout/**")
    await expect(alice.get_by_text("TEST MODE")).to_be_visible()
    await alice.get_by_role("button", name="Pay", exact=True).click()
    await alice.wait_for_url(f"**/watch/{slug}")  # back in the room (the ?paid= note is read and dropped)
    await expect(alice.locator("#tip-note")).to_contain_text("Thank you")

    for page in (bob, alice):
        line = page.locator("#chat-log li.tip")
        await expect(line.locator(".name")).to_have_text("alice")
        await expect(line.locator(".amount")).to_have_text("$5.00")
        await expect(line.locator(".text")).to_have_text("from the front row")
        await expect(page.locator("#supporters .supporter .name")).to_have_text(["alice"])
    alert = overlay.locator(".alert[data-kind='tip']")
    await expect(alert.locator(".title")).to_have_text("alice tipped $5.00")
    await expect(alert.locator(".message")).to_have_text("from the front row")
    assert len(await overlay.evaluate("() => window.nal.alerts.shown")) == 1
    await pages.shot(bob, "e2e-tip-watch")
    await pages.shot(overlay, "e2e-tip-overlay")
