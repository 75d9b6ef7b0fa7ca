"""The front page in headless Chromium: sign up, log out, log in, create a room, list rooms."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from playwright.async_api import Dialog, expect

from tests.server.test_live import ffmpeg_publish
from tests.static.conftest import PASSWORD, Pages, csrf
from tests.support.servers import ServerProcess


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
    questions: list[str] = []

    async def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await (dialog.dismiss() if len(questions) == 1 else dialog.accept())

    pages.allow("Rotate the stream key?")
    page.on("dialog", answer)
    await page.get_by_role("button", name="Rotate the stream key").click()  # dismissed: the key stays
    # The dialog handler runs as its own task: the click can return before it has noted the
    # question, so wait for it instead of reading the list at once.
    for _ in range(200):
        if questions:
            break
        await asyncio.sleep(0.05)
    await expect(page.locator("#rotate-status")).to_be_hidden()
    assert len(questions) == 1 and "OBS" in questions[0]
    await page.get_by_role("button", name="Rotate the stream key").click()
    await expect(page.locator("#stream-key")).to_be_visible()
    new_key = await page.locator("#stream-key").text_content()
    assert new_key and new_key != room["stream_key"]
    await pages.shot(page, "studio")

    guest = await pages.open(f"/studio/{room['slug']}")
    await expect(guest.locator("#rtmp-server")).to_have_text(room["ingest"]["rtmp"]["server"])
    await expect(guest.locator("#rotate")).to_be_hidden()



async def stream_state(http: aiohttp.ClientSession, slug: str) -> str:
    async with http.get(f"/api/rooms/{slug}/stream") as r:
        state: str = (await r.json())["state"]
        return state


async def wait_state(http: aiohttp.ClientSession, slug: str, wanted: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while await stream_state(http, slug) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"the stream never became {wanted}"
        await asyncio.sleep(0.1)


async def test_studio_ends_the_stream_after_asking(pages: Pages, http: aiohttp.ClientSession,
                                                   srv: ServerProcess) -> None:
    ctx = await pages.context("nadia")
    r = await ctx.request.post("/api/rooms", data={"title": "End Test"},
                               headers={"X-CSRF-Token": await csrf(ctx)})
    room = await r.json()
    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{room['stream_key']}", seconds=120)
    try:
        page = await pages.open(f"/studio/{room['slug']}", ctx=ctx)
        await wait_state(http, room["slug"], "live")
        questions: list[str] = []

        async def answer(dialog: Dialog) -> None:
            questions.append(dialog.message)
            await (dialog.dismiss() if len(questions) == 1 else dialog.accept())

        pages.allow("End the live stream now?")
        page.on("dialog", answer)
        await page.get_by_role("button", name="End the stream").click()  # dismissed: nothing happens
        await expect(page.locator("#rotate-status")).to_be_hidden()
        assert len(questions) == 1
        assert publisher.poll() is None and await stream_state(http, room["slug"]) == "live"
        await page.get_by_role("button", name="End the stream").click()  # accepted
        await expect(page.locator("#rotate-status")).to_have_text("The stream has ended.")
        assert await stream_state(http, room["slug"]) == "offline"
        assert "End the live stream" in questions[1]
        assert await asyncio.to_thread(publisher.wait, 20) != 0  # its connection was closed
    finally:
        if publisher.poll() is None:
            publisher.kill()
        publisher.wait(10)


async def test_signing_up_from_a_room_returns_to_the_room(pages: Pages, http: aiohttp.ClientSession) -> None:
    async with http.post("/api/accounts", json={"username": "artist", "password": PASSWORD}) as r:
        assert r.status == 201
    async with http.post("/api/sessions", json={"username": "artist", "password": PASSWORD}) as r:
        token = (await r.json())["token"]
    async with http.post("/api/rooms", json={"title": "Come Back"}, headers={"Authorization": f"Bearer {token}"}) as r:
        slug = (await r.json())["slug"]
    page = await pages.open(f"/watch/{slug}")
    await page.locator("#session").get_by_role("link", name="Sign in").click()
    await expect(page.locator("#account-next")).to_be_visible()
    await page.locator("#signup-username").fill("newfan")
    await page.locator("#signup-password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url(f"**/watch/{slug}")
    await expect(page.locator("#session")).to_contain_text("Signed in as newfan")
    await expect(page.locator("#chat-input")).to_be_enabled()


async def test_a_next_that_leaves_the_site_is_ignored(pages: Pages) -> None:
    page = await pages.open("/?next=//evil.example/x#account")
    await expect(page.locator("#account-next")).to_be_hidden()
    await page.locator("#signup-username").fill("carefulfan")
    await page.locator("#signup-password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.locator("#session")).to_contain_text("Signed in as carefulfan")
    assert page.url.startswith(pages.srv.url)


async def test_the_create_form_offers_the_latency_class(pages: Pages, http: aiohttp.ClientSession) -> None:
    page = await pages.open("/", "rtartist")
    await page.get_by_label("Show title").fill("Real Time Jam")
    await page.get_by_label("Latency").select_option("realtime")
    await page.get_by_role("button", name="Create room").click()
    await expect(page.locator("#new-room")).to_be_visible()
    async with http.get("/api/rooms") as r:
        rooms = (await r.json())["rooms"]
    assert [(x["title"], x["latency_class"], x["live"], x["viewers"]) for x in rooms] == [
        ("Real Time Jam", "realtime", False, 0)]
    await expect(page.locator("#rooms li.room .live-badge")).to_have_text("OFFLINE")
