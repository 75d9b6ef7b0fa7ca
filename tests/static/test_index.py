"""The front page in headless Chromium: sign up, log out, log in, create a room, list rooms."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import expect

from tests.static.conftest import PASSWORD, Pages, csrf


async def test_sign_up_create_room_log_out_log_in(pages: Pages, http: aiohttp.ClientSession) -> None:
    page = await pages.open("/")
    await expect(page.locator("#account")).to_be_visible()
    await expect(page.locator("#create")).to_be_hidden()

    await page.get_by_label("Username").first.fill("maya")
    await page.locator("#signup-password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.locator("#session")).to_contain_text("Signed in as maya")
    await expect(page.locator("#account")).to_be_hidden()

    await page.get_by_label("Show title").fill("Friday <b>Night</b> Show")
    await page.get_by_role("button", name="Create room").click()
    new_room = page.locator("#new-room")
    await expect(new_room).to_be_visible()
    key = (await page.locator("#new-stream-key").text_content()) or ""
    assert len(key) >= 16
    await expect(page.locator("#new-rtmp-server")).to_have_text(re.compile(r"^rtmp://127\.0\.0\.1:\d+/live$"))
    await expect(page.locator("#new-whip-url")).to_contain_text("/whip/")
    await expect(page.locator("#new-room-title")).to_have_text("Friday <b>Night</b> Show")
    await pages.shot(page, "index-created")

    async with http.get("/api/rooms") as r:
        rooms = (await r.json())["rooms"]
    assert [room["title"] for room in rooms] == ["Friday <b>Night</b> Show"]
    slug = rooms[0]["slug"]
    assert await page.locator("#new-watch").get_attribute("href") == f"/watch/{slug}"
    listed = page.locator(f'#rooms li[data-slug="{slug}"]')
    await expect(listed).to_contain_text("Friday <b>Night</b> Show")
    await expect(listed.get_by_role("link", name="Moderate")).to_be_visible()
    assert await page.locator("#rooms b").count() == 0

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#account")).to_be_visible()
    await expect(new_room).to_be_hidden()
    await expect(listed.get_by_role("link", name="Moderate")).to_have_count(0)

    await page.locator("#login-username").fill("maya")
    await page.locator("#login-password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#account-status")).to_contain_text("wrong username or password")

    await page.locator("#login-password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#session")).to_contain_text("Signed in as maya")
    await expect(page.locator("#create")).to_be_visible()
    await pages.shot(page, "index-signed-in")


async def test_sign_up_refusals_are_shown(pages: Pages, http: aiohttp.ClientSession) -> None:
    async with http.post("/api/accounts", json={"username": "taken", "password": PASSWORD}) as r:
        assert r.status == 201
    page = await pages.open("/")
    await page.locator("#signup-username").fill("taken")
    await page.locator("#signup-password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.locator("#account-status")).to_contain_text("taken")
    await expect(page.locator("#create")).to_be_hidden()


async def test_studio_shows_obs_settings_and_rotates_the_key(pages: Pages, http: aiohttp.ClientSession) -> None:
    ctx = await pages.context("ines")
    r = await ctx.request.post("/api/rooms", data={"title": "Studio Test"},
                               headers={"X-CSRF-Token": await csrf(ctx)})
    assert r.status == 201, await r.text()
    room = await r.json()
    page = await pages.open(f"/studio/{room['slug']}", ctx=ctx)
    await expect(page.locator("#rtmp-server")).to_have_text(room["ingest"]["rtmp"]["server"])
    await expect(page.locator("#stream-key")).to_be_hidden()
    await page.get_by_role("button", name="Rotate the stream key").click()
    await expect(page.locator("#stream-key")).to_be_visible()
    new_key = await page.locator("#stream-key").text_content()
    assert new_key and new_key != room["stream_key"]
    await pages.shot(page, "studio")

    guest = await pages.open(f"/studio/{room['slug']}")
    await expect(guest.locator("#rtmp-server")).to_have_text(room["ingest"]["rtmp"]["server"])
    await expect(guest.locator("#rotate")).to_be_hidden()

