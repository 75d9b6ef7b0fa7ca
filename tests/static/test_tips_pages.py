"""Tips and boosts on the watch, moderate and studio pages, in headless Chromium, on an
in-process server whose gateway publishes the paid events (as the payments router does).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from tests.static.conftest import Pages, add_song, bearer, create_room
from tests.static.inproc import InProcess


async def connected(page: Page) -> None:
    await expect(page.locator("#socket-status")).to_have_text("Connected")


def tip(tid: str, sender: str, amount: int, message: str = "") -> dict[str, Any]:
    return {"id": tid, "from": sender, "amount": amount, "currency": "USD", "message": message}


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#chat-log li.msg .text").last).to_have_text(text)


def tip_line(page: Page, tid: str) -> Any:
    return page.locator(f'#chat-log li.tip[data-tip="{tid}"]')


async def test_tips_in_chat_supporters_hide_and_refund(opages: Pages, ohttp: aiohttp.ClientSession,
                                                       inproc: InProcess) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Tip Night")
    slug = room["slug"]
    alice = await opages.open(f"/watch/{slug}", "alice")
    bob = await opages.open(f"/watch/{slug}", "bob")
    await connected(alice)
    await connected(bob)
    await expect(alice.locator("#supporters")).to_be_hidden()
    await say(alice, "hello before the tips")

    await inproc.publish(slug, "tip", tip("t1", "alice", 500, "for the bridge"), "tip:t1")
    await inproc.publish(slug, "tip", tip("t2", "Anonymous", 300, "shh"), "tip:t2")
    await inproc.publish(slug, "tip", tip("t3", "bob", 200), "tip:t3")
    for page in (alice, bob):
        line = tip_line(page, "t1")
        await expect(line.locator(".name")).to_have_text("alice")
        await expect(line.locator(".amount")).to_have_text("$5.00")
        await expect(line.locator(".text")).to_have_text("for the bridge")
        await expect(page.locator("#supporters .supporter .name")).to_have_text(["alice", "bob"])
        await expect(page.locator("#supporters .supporter .amount")).to_have_text(["$5.00", "$2.00"])
    await say(bob, "after the tips")
    await opages.shot(bob, "watch-tips")

    # A host hides the message (moderate page, Hide button); the money and the supporter stay.
    mod = await opages.open(f"/moderate/{slug}", "olga", signup=False)
    await connected(mod)
    await tip_line(mod, "t1").get_by_role("button", name="Hide the tip message from alice").click()
    for page in (alice, bob):
        await expect(tip_line(page, "t1").locator(".text")).to_have_count(0)
        await expect(tip_line(page, "t1").locator(".amount")).to_have_text("$5.00")

    # A refund marks the tip and takes it off the supporters strip.
    await inproc.publish(slug, "tip.refunded", {"id": "t1"}, "refund:t1")
    await expect(tip_line(bob, "t1")).to_have_attribute("data-refunded", "true")
    await expect(bob.locator("#supporters .supporter .name")).to_have_text(["bob"])

    # A late viewer gets all of it from the snapshot.
    late = await opages.open(f"/watch/{slug}", "carol")
    await expect(late.locator("#chat-log li.tip")).to_have_count(3)
    in_order = ["hello before the tips", "tip:t1", "tip:t2", "tip:t3", "after the tips"]
    lines = late.locator("#chat-log li.msg")
    assert [await lines.nth(i).get_attribute("data-id") or "" for i in range(5)][1:4] == in_order[1:4]
    await expect(lines.first.locator(".text")).to_have_text(in_order[0])
    await expect(lines.last.locator(".text")).to_have_text(in_order[-1])
    await expect(tip_line(late, "t1")).to_have_attribute("data-refunded", "true")
    await expect(tip_line(late, "t1").locator(".text")).to_have_count(0)
    await expect(late.locator("#supporters .supporter .name")).to_have_text(["bob"])


async def test_tip_button_opens_checkout_and_boost_shows_in_queue(
    opages: Pages, ohttp: aiohttp.ClientSession, inproc: InProcess
) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Boost Night")
    slug = room["slug"]
    await add_song(ohttp, owner, slug, "Blue Hour")
    await add_song(ohttp, owner, slug, "Red Dawn")
    alice = await opages.open(f"/watch/{slug}", "alice")
    await alice.set_viewport_size({"width": 390, "height": 844})  # a phone
    bob = await opages.open(f"/watch/{slug}", "bob")
    await connected(alice)
    await connected(bob)
    await alice.get_by_role("button", name="Request Blue Hour").click()
    await bob.get_by_role("button", name="Request Red Dawn").click()
    await expect(alice.locator("#queue li.request .title")).to_have_text(["Blue Hour", "Red Dawn"])
    red = await alice.locator("#queue li.request").nth(1).get_attribute("data-id")
    assert red
    boost = {"request_id": red, "boost_id": "b1", "amount": 300, "currency": "USD", "from": "bob"}
    await inproc.publish(slug, "song.boost", boost, "boost:b1")
    for page in (alice, bob):
        await expect(page.locator("#queue li.request .title")).to_have_text(["Red Dawn", "Blue Hour"])
        await expect(page.locator("#queue li.request").first.locator(".boost")).to_have_text("$3.00 boost")

    # The Tip button posts the tip and opens the sandbox checkout; Cancel comes back.
    await alice.get_by_role("button", name="Tip", exact=True).click()
    dialog = alice.locator("#pay-dialog")
    await expect(dialog).to_be_visible()
    box = await dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # fits the phone
    await dialog.get_by_role("button", name="$10.00").click()
    await expect(alice.get_by_label("Amount (USD)")).to_have_value("10.00")
    await alice.get_by_label("Amount (USD)").fill("7.50")
    await alice.get_by_label("Message (optional)").fill("play it again")
    await opages.shot(alice, "watch-tip-dialog-phone")
    async with alice.expect_request(f"**/api/rooms/{slug}/tips") as posted:
        await alice.get_by_role("button", name="Tip: continue to payment").click()
    assert json.loads((await posted.value).post_data or "{}") == {
        "amount": 750, "message": "play it again", "anonymous": False}
    await alice.wait_for_url("**/sandbox/checkout/**")
    await expect(alice.get_by_text("Total: 7.50 USD")).to_be_visible()
    await alice.get_by_role("button", name="Cancel").click()
    await alice.wait_for_url(f"**/watch/{slug}")

    # Boost opens the same dialog for the request; a guest sees no Tip they can press.
    await connected(alice)
    await alice.get_by_role("button", name="Boost Blue Hour").click()
    await expect(alice.locator("#pay-title")).to_have_text("Boost “Blue Hour”")
    await expect(alice.get_by_label("Message (optional)")).to_be_hidden()
    await alice.get_by_label("Amount (USD)").fill("4")
    await alice.get_by_role("button", name="Boost: continue to payment").click()
    await alice.wait_for_url("**/sandbox/checkout/**")
    await expect(alice.get_by_text("Total: 4.00 USD")).to_be_visible()
    guest = await opages.open(f"/watch/{slug}")
    await expect(guest.get_by_role("button", name="Tip", exact=True)).to_be_disabled()
    await expect(guest.locator("#tip-note")).to_have_text("Sign in to tip.")


async def test_studio_lists_tips_and_sends_a_test_alert(opages: Pages, ohttp: aiohttp.ClientSession,
                                                        inproc: InProcess) -> None:
    owner = await bearer(ohttp, "olga")
    room = await create_room(ohttp, owner, "Studio Night")
    slug = room["slug"]
    opages.allow("getUserMedia")  # the studio's camera preview is not what this test is about
    studio = await opages.open(f"/studio/{slug}", "olga", signup=False)
    overlay_url = studio.locator("#overlay-url")
    await expect(overlay_url).to_have_text(room["overlay_url"])
    await studio.wait_for_function("() => document.querySelector('#tips-total').textContent !== ''")
    await inproc.publish(slug, "tip", tip("t1", "alice", 500, "wow"), "tip:t1")
    await inproc.publish(slug, "tip", tip("t2", "bob", 250), "tip:t2")
    await expect(studio.locator("#studio-tips li.tip-row .name")).to_have_text(["bob", "alice"])
    await expect(studio.locator("#tips-total")).to_have_text("$7.50 from 2 tips")

    overlay = await opages.open(f"/overlay/{slug}?key={room['overlay_key']}&display=5")
    await overlay.wait_for_function("() => window.nal && window.nal.socket.state === 'open'")
    await studio.get_by_role("button", name="Test alert").click()
    await expect(overlay.locator('.alert[data-kind="test"] .title')).to_have_text("olga tipped (test) $5.00")
    await expect(studio.locator("#overlay-status")).to_contain_text("Test alert sent")

    await studio.get_by_role("button", name="New overlay URL").click()
    await expect(overlay_url).not_to_have_text(room["overlay_url"])
    new_url = await overlay_url.text_content()
    assert new_url and new_url.startswith(f"{inproc.url}/overlay/{slug}?key=ovl_")
    async with ohttp.get(room["overlay_url"]) as r:
        assert r.status == 403

    # Tip settings: the watch page's dialog follows the room's currency and range.
    tips = studio.get_by_role("region", name="Tips and OBS alerts")  # the show form has a Currency too
    await expect(tips.get_by_label("Currency")).to_have_value("USD")
    await tips.get_by_label("Currency").fill("eur")
    await tips.get_by_label("Smallest tip").fill("3")
    await tips.get_by_label("Largest tip").fill("50")
    await studio.get_by_role("button", name="Save tip settings").click()
    await expect(studio.locator("#tip-settings-status")).to_have_text("Saved.")
    await expect(tips.get_by_label("Smallest tip")).to_have_value("3.00")
    async with ohttp.get(f"/api/rooms/{slug}/tip-settings") as r:
        assert await r.json() == {"currency": "EUR", "tip_min": 300, "tip_max": 5000}
    await opages.shot(studio, "studio-tips")
    fan = await opages.open(f"/watch/{slug}", "alice")
    await connected(fan)
    await fan.get_by_role("button", name="Tip", exact=True).click()
    await expect(fan.locator("#pay-presets button")).to_have_text(["€5.00", "€10.00", "€20.00"])
    await fan.get_by_label("Amount (EUR)").fill("1")
    await fan.get_by_role("button", name="Tip: continue to payment").click()
    await expect(fan.locator("#pay-status")).to_have_text("The amount must be €3.00 to €50.00.")
    await studio.get_by_role("button", name="Test alert").click()
    await expect(overlay.locator('.alert[data-kind="test"] .amount').last).to_have_text("€5.00")
