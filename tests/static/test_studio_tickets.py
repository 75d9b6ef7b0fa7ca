"""The studio's show editor in headless Chromium (issue 10, "in the studio a show editor
(tiers, quotas, prices) with live sales per tier"): the owner creates a show and its tiers
(price, capacity, what each includes), changes them, and sees each tier's sales (sold,
held, left, revenue) move as fans buy through the sandbox checkout, without a reload."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer
from tests.static.test_layout import no_sideways_scroll
from tests.static.test_studio_show import owner_room

SLOW = 30_000


def local(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def buy(http: aiohttp.ClientSession, fan: dict[str, str], show_id: str, tier_id: str, pay: bool) -> None:
    async with http.post(f"/api/shows/{show_id}/orders", json={"tier_id": tier_id}, headers=fan) as r:
        assert r.status == 201, await r.text()
        order = await r.json()
    if pay:
        async with http.post(local(order["checkout_url"]) + "/pay") as r:
            assert r.status == 200, await r.text()


async def test_owner_edits_a_show_and_its_tiers_and_watches_sales_live(
        pages: Pages, http: aiohttp.ClientSession) -> None:
    ctx, room = await owner_room(pages, "olga", "Ticket Night")
    slug = room["slug"]
    studio = await pages.open(f"/studio/{slug}", ctx=ctx)
    card = studio.locator("#tickets-card")
    await expect(card.locator("#ticket-shows-empty")).to_be_visible(timeout=SLOW)

    await card.get_by_label("Title", exact=True).fill("Album launch")
    await card.get_by_label("Starts", exact=True).fill("2030-05-01T20:00")
    await card.get_by_label("Ends (optional)", exact=True).fill("2030-05-01T23:00")
    await card.get_by_label("Currency", exact=True).fill("usd")
    await studio.get_by_role("button", name="Create show").click()
    await expect(studio.locator("#tier-form-title")).to_have_text("New tier for Album launch")
    await card.get_by_label("Tier name", exact=True).fill("VIP")
    await card.get_by_label("Price (USD)", exact=True).fill("25")
    await card.get_by_label("Capacity (empty: no limit)", exact=True).fill("2")
    await card.get_by_label("Video", exact=True).select_option("realtime")
    await card.get_by_label("Replay", exact=True).check()
    await studio.get_by_role("button", name="Add tier").click()
    await expect(studio.locator("#tier-form")).to_be_hidden()
    await studio.get_by_role("button", name="Add a tier to Album launch").click()
    await card.get_by_label("Tier name", exact=True).fill("Standard")
    await card.get_by_label("Price (USD)", exact=True).fill("10")
    await card.get_by_label("Chat", exact=True).uncheck()
    await studio.get_by_role("button", name="Add tier").click()

    vip = card.locator(".tier-sales").filter(has_text="VIP")
    std = card.locator(".tier-sales").filter(has_text="Standard")
    await expect(vip.locator(".amount")).to_have_text("$25.00")
    await expect(vip.locator(".includes")).to_have_text("real-time video (WebRTC) and LL-HLS · chat · replay")
    await expect(vip.locator('[data-figure="remaining"]')).to_have_text("2 left of 2")
    await expect(std.locator(".includes")).to_have_text("LL-HLS video · reads chat")
    await expect(std.locator('[data-figure="remaining"]')).to_have_text("no limit")

    await studio.get_by_role("button", name="Edit tier Standard").click()
    await expect(card.get_by_label("Price (USD)", exact=True)).to_have_value("10.00")
    await card.get_by_label("Price (USD)", exact=True).fill("12.50")
    await studio.get_by_role("button", name="Save tier").click()
    await expect(std.locator(".amount")).to_have_text("$12.50")
    await studio.get_by_role("button", name="Edit show Album launch").click()
    await expect(card.get_by_label("Title", exact=True)).to_have_value("Album launch")
    await card.get_by_label("Title", exact=True).fill("Album launch night")
    await studio.get_by_role("button", name="Save show").click()
    item = card.locator(".show-item")
    await expect(item.locator(".title")).to_have_text("Album launch night")
    await expect(card.locator("#shows-status")).to_have_text("Show saved.")
    await expect(studio.locator("#studio-state")).to_be_attached()  # the live badge is another element's
    await expect(studio.get_by_role("button", name="Create show")).to_be_visible()

    # What the editor wrote is what the server holds (the page's local times, as UTC).
    starts, ends = await studio.evaluate(
        "() => [new Date('2030-05-01T20:00').toISOString(), new Date('2030-05-01T23:00').toISOString()]")
    show_id = await item.get_attribute("data-show")
    async with http.get(f"/api/shows/{show_id}") as r:
        public: dict[str, Any] = await r.json()
    assert public["title"] == "Album launch night" and public["currency"] == "USD"
    assert public["starts_at"] == starts.replace(".000Z", "Z") and public["ends_at"] == ends.replace(".000Z", "Z")
    assert [(t["name"], t["price"], t["quantity"], t["latency_class"], t["chat"], t["replay"])
            for t in public["tiers"]] == [("VIP", 2500, 2, "realtime", True, True),
                                          ("Standard", 1250, None, "standard", False, False)]
    vip_id = public["tiers"][0]["id"]
    assert "sold" not in public["tiers"][0]  # a guest sees prices, not sales

    # Fans buy: one pays, one holds a seat at the checkout; the studio follows without a reload.
    await buy(http, await bearer(http, "fay"), show_id, vip_id, pay=True)
    await buy(http, await bearer(http, "finn"), show_id, vip_id, pay=False)
    await expect(vip.locator('[data-figure="sold"]')).to_have_text("1 sold", timeout=SLOW)
    await expect(vip.locator('[data-figure="held"]')).to_have_text("1 held")
    await expect(vip.locator('[data-figure="remaining"]')).to_have_text("0 left of 2")
    await expect(vip.locator('[data-figure="revenue"]')).to_have_text("$25.00")
    await expect(vip.locator(".sale-state")).to_have_text("sold out")
    await expect(std.locator('[data-figure="revenue"]')).to_have_text("$0.00")
    await expect(item.locator('[data-figure="total"]')).to_have_text("Total: 1 sold · $25.00")
    await pages.shot(studio, "studio-show-editor-sales")
    await card.screenshot(path=str(pages.shots / "studio-show-editor-card.png"))
    await studio.set_viewport_size({"width": 390, "height": 844})  # a phone: the sales wrap, nothing sideways
    await no_sideways_scroll(studio, "studio with a show's sales at 390 px")
    await pages.shot(studio, "studio-show-editor-sales-phone")


async def test_a_tier_the_server_refuses_says_why_and_keeps_the_form(pages: Pages) -> None:
    ctx, room = await owner_room(pages, "otto", "Refusals")
    studio = await pages.open(f"/studio/{room['slug']}", ctx=ctx)
    card = studio.locator("#tickets-card")
    await card.get_by_label("Title", exact=True).fill("Late set")
    await card.get_by_label("Starts", exact=True).fill("2030-06-01T21:00")
    await studio.get_by_role("button", name="Create show").click()
    await card.get_by_label("Tier name", exact=True).fill("Supporter")
    await card.get_by_label("Price (USD)", exact=True).fill("5")
    await card.get_by_label("Pay what you want from (optional)", exact=True).fill("9")  # a floor above the suggested price
    await studio.get_by_role("button", name="Add tier").click()
    await expect(studio.locator("#tier-status")).to_have_attribute("data-kind", "error")
    await expect(studio.locator("#tier-status")).not_to_be_empty()
    await expect(card.get_by_label("Tier name", exact=True)).to_have_value("Supporter")
    await card.get_by_label("Price (USD)", exact=True).fill("five")
    await studio.get_by_role("button", name="Add tier").click()
    await expect(studio.locator("#tier-status")).to_have_text("Enter the prices like 15 or 12.50.")
    await card.get_by_label("Price (USD)", exact=True).fill("12")
    await studio.get_by_role("button", name="Add tier").click()
    tier = studio.locator(".tier-sales").filter(has_text="Supporter")
    await expect(tier.locator(".amount")).to_have_text("from $9.00 (suggested $12.00)")
