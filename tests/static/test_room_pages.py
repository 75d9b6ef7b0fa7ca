"""The watch and moderate pages over the real room socket, in headless Chromium.

Several browser profiles (fans, a guest, the owner) open the pages of one free room on a real
server process; what one does must show up on the others' pages in real time.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from tests.static.conftest import Pages, add_song, bearer, create_room
from tests.support.servers import ServerProcess

XSS = "<img src=x onerror=alert(1)>"


async def _room(http: aiohttp.ClientSession, owner: str = "owner1") -> tuple[str, dict[str, str]]:
    headers = await bearer(http, owner)
    room = await create_room(http, headers, "Free Room")
    return str(room["slug"]), headers


async def _connected(page: Page) -> None:
    await expect(page.locator("#socket-status")).to_have_text("Connected")


async def _send(page: Page, text: str) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_label("Message", exact=True)).to_have_value("")


def _message(page: Page, text: str) -> object:
    return page.locator("#chat-log li.msg", has=page.locator(".text", has_text=text))


async def test_chat_between_fans_in_real_time(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, _ = await _room(http)
    alice = await pages.open(f"/watch/{slug}", "alice")
    bob = await pages.open(f"/watch/{slug}", "bob")
    guest = await pages.open(f"/watch/{slug}")
    for page in (alice, bob, guest):
        await _connected(page)
    await expect(guest.get_by_label("Message", exact=True)).to_be_disabled()
    await expect(guest.locator("#chat-note")).to_contain_text("Sign in to chat")

    await _send(alice, "hello from alice")
    for page in (alice, bob, guest):
        line = page.locator("#chat-log li.msg").last
        await expect(line.locator(".text")).to_have_text("hello from alice")
        await expect(line.locator(".name")).to_have_text("alice")

    await _send(bob, "hi alice, bob here")
    await expect(alice.locator("#chat-log li.msg").last.locator(".text")).to_have_text("hi alice, bob here")
    await expect(alice.locator("#chat-log li.msg")).to_have_count(2)
    await expect(guest.locator("#viewers")).to_have_text("3")

    # A late joiner gets the recent chat from the snapshot.
    late = await pages.open(f"/watch/{slug}", "carol")
    await expect(late.locator("#chat-log li.msg .text")).to_have_text(["hello from alice", "hi alice, bob here"])
    await pages.shot(alice, "watch-chat")


async def test_chat_text_is_never_markup(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, _ = await _room(http)
    mallory = await pages.open(f"/watch/{slug}", "mallory")
    victim = await pages.open(f"/watch/{slug}", "victim")
    await _connected(mallory)
    await _connected(victim)
    await victim.evaluate("() => { window.__xss = 0; window.alert = () => { window.__xss += 1; }; }")
    await _send(mallory, XSS)
    line = victim.locator("#chat-log li.msg").last
    await expect(line.locator(".text")).to_have_text(XSS)
    assert await victim.locator("#chat-log img").count() == 0
    assert await line.locator(".text").evaluate("node => node.children.length") == 0
    assert await victim.evaluate("window.__xss") == 0
    await pages.shot(victim, "watch-xss")


async def test_moderator_deletes_a_message_and_it_disappears_for_fans(
        pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, _ = await _room(http, "maya")
    mod = await pages.open(f"/moderate/{slug}", "maya", signup=False)
    fan = await pages.open(f"/watch/{slug}", "spammer")
    other = await pages.open(f"/watch/{slug}", "fan2")
    for page in (mod, fan, other):
        await _connected(page)

    await _send(fan, "buy cheap followers")
    await _send(other, "great show")
    await expect(_message(mod, "buy cheap followers")).to_have_count(1)
    await expect(_message(other, "buy cheap followers")).to_have_count(1)
    await pages.shot(mod, "moderate-before-delete")

    await mod.get_by_role("button", name="Delete message from spammer").click()
    for page in (mod, fan, other):
        await expect(_message(page, "buy cheap followers")).to_have_count(0)
        await expect(_message(page, "great show")).to_have_count(1)

    # Pin, then the fan sees the pinned message.
    await mod.get_by_role("button", name="Pin message from fan2").click()
    await expect(other.locator("#pinned")).to_contain_text("great show")

    # Ban: the fan's messages vanish everywhere and the fan can no longer chat.
    await _send(fan, "second spam")
    await expect(_message(other, "second spam")).to_have_count(1)
    await mod.get_by_role("button", name="Ban spammer").first.click()
    await expect(_message(other, "second spam")).to_have_count(0)
    await expect(_message(mod, "second spam")).to_have_count(0)
    await expect(other.locator("#chat-log li.notice").last).to_contain_text("spammer was banned")
    await expect(fan.locator("#socket-status")).to_have_text("Chat closed to you")
    # The banned fan is told once, plainly, that chat and requests are closed and watching is not.
    await expect(fan.locator("#room-notice")).to_have_text(
        "You are banned from this room’s chat and song requests. You can still watch the show.")
    await expect(fan.locator("#chat-input")).to_be_disabled()
    await expect(fan.locator("#chat-note")).to_contain_text("Chat is closed to you")
    await expect(fan.locator("#queue")).to_have_text("Song requests are closed to you in this room.")
    await expect(fan.locator("#chat-status")).to_be_hidden()
    await pages.shot(fan, "watch-banned")
    # The host sees who is banned.
    await expect(mod.locator("#bans li.ban")).to_have_count(1)
    await expect(mod.locator("#bans li.ban")).to_contain_text("spammer")

    # Unban from the list.
    await mod.get_by_role("button", name="Unban spammer").click()
    await expect(mod.locator("#bans-status")).to_have_text("spammer unbanned.")
    await expect(other.locator("#chat-log li.notice").last).to_contain_text("spammer was unbanned")
    await expect(mod.locator("#bans")).to_have_text("Nobody is banned.")
    # The user tools still ban and unban by name.
    await mod.get_by_label("User to moderate").fill("spammer")
    await mod.get_by_role("button", name="Unban", exact=True).click()
    await expect(mod.locator("#user-status")).to_have_text("spammer unbanned.")
    await pages.shot(mod, "moderate-after-ban")

    # A fan cannot moderate: the moderate page says so and shows no tools.
    nosy = await pages.open(f"/moderate/{slug}", "fan2", signup=False)
    await expect(nosy.locator("#room-notice")).to_contain_text("Only the room’s artist and hosts")
    await expect(nosy.locator("#chat-panel")).to_be_hidden()


async def test_settings_and_hosts_from_the_moderate_page(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, _ = await _room(http, "maya")
    await bearer(http, "helper")
    mod = await pages.open(f"/moderate/{slug}", "maya", signup=False)
    fan = await pages.open(f"/watch/{slug}", "fan1")
    await _connected(mod)
    await _connected(fan)

    await mod.get_by_label("Slow mode").select_option("10")
    await mod.get_by_label("Blocked terms").fill("badword\nspam*")
    await mod.get_by_role("button", name="Save settings").click()
    await expect(mod.locator("#settings-status")).to_have_text("Saved.")
    await expect(fan.locator("#chat-note")).to_contain_text("Slow mode: one message every 10 s")

    await _send(fan, "first")
    await fan.get_by_label("Message", exact=True).fill("spammy stuff")
    await fan.get_by_role("button", name="Send").click()
    await expect(fan.locator("#chat-status")).to_be_visible()
    await expect(_message(mod, "spammy stuff")).to_have_count(0)

    await mod.get_by_label("New host").fill("helper")
    await mod.get_by_role("button", name="Add host").click()
    await expect(mod.locator("#hosts li.host")).to_have_text(["helperRemove"])
    helper = await pages.open(f"/moderate/{slug}", "helper", signup=False)
    await _connected(helper)
    await expect(helper.get_by_label("Slow mode")).to_have_value("10")
    await expect(helper.locator("#host-form")).to_be_hidden()
    await pages.shot(mod, "moderate-settings")

    await mod.get_by_role("button", name="Remove host helper").click()
    await expect(mod.locator("#hosts")).to_contain_text("No hosts yet.")


async def test_song_request_and_vote_show_in_the_queue(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, owner = await _room(http, "maya")
    await add_song(http, owner, slug, "Blue Hour")
    await add_song(http, owner, slug, "Night <Drive>")
    fan1 = await pages.open(f"/watch/{slug}", "fan1")
    fan2 = await pages.open(f"/watch/{slug}", "fan2")
    mod = await pages.open(f"/moderate/{slug}", "maya", signup=False)
    for page in (fan1, fan2, mod):
        await _connected(page)
    await expect(fan1.locator("#catalog li.song-row .title")).to_have_text(["Blue Hour", "Night <Drive>"])
    await expect(fan1.locator("#queue")).to_contain_text("No requests yet.")

    await fan1.get_by_role("button", name="Request Night <Drive>").click()
    for page in (fan1, fan2, mod):
        request = page.locator("#queue li.request")
        await expect(request).to_have_count(1)
        await expect(request.locator(".title")).to_have_text("Night <Drive>")
        await expect(request.locator(".votes")).to_have_text("0 votes")
        await expect(request.locator(".by")).to_have_text("asked by fan1")

    await fan2.get_by_role("button", name="Request Blue Hour").click()
    await expect(fan1.locator("#queue li.request .title")).to_have_text(["Night <Drive>", "Blue Hour"])
    await fan1.get_by_role("button", name="Vote for Blue Hour").click()
    for page in (fan1, fan2, mod):
        await expect(page.locator("#queue li.request .title")).to_have_text(["Blue Hour", "Night <Drive>"])
        await expect(page.locator("#queue li.request").first.locator(".votes")).to_have_text("1 vote")

    voted = fan1.get_by_role("button", name="You voted for Blue Hour")
    await expect(voted).to_be_disabled()
    await expect(voted).to_have_text("Voted")
    await expect(fan1.get_by_role("button", name="Vote for Blue Hour")).to_have_count(0)
    # The voted state is the server's: it survives a reload and shows in the fan's other tabs.
    await fan1.reload()
    await _connected(fan1)
    await expect(fan1.get_by_role("button", name="You voted for Blue Hour")).to_have_text("Voted")
    await expect(fan1.get_by_role("button", name="Vote for Blue Hour")).to_have_count(0)
    other_tab = await pages.open(f"/watch/{slug}", ctx=fan1.context)
    await _connected(other_tab)
    await expect(other_tab.get_by_role("button", name="You voted for Blue Hour")).to_be_disabled()
    # Nobody votes for their own request: fan1 sees no Vote button on Night <Drive>.
    mine = fan1.locator("#queue li.request", has=fan1.locator(".title", has_text="Night <Drive>"))
    await expect(mine.locator(".mine")).to_have_text("your request")
    await expect(fan1.get_by_role("button", name="Vote for Night <Drive>")).to_have_count(0)
    await expect(fan2.get_by_role("button", name="Vote for Night <Drive>")).to_be_visible()

    await mod.get_by_role("button", name="Play Blue Hour").click()
    await expect(fan2.locator("#queue li.request.playing .title")).to_have_text("Blue Hour")
    await expect(fan2.locator("#queue li.request.playing")).to_contain_text("now playing")
    await pages.shot(fan2, "watch-queue")
    await pages.shot(mod, "moderate-queue")
    await mod.get_by_role("button", name="Done with Blue Hour").click()
    await expect(fan1.locator("#queue li.request .title")).to_have_text(["Night <Drive>"])


async def _fan_socket(http: aiohttp.ClientSession, srv_ws: str, slug: str, name: str) -> Any:
    token = (await bearer(http, name))["Authorization"].split()[1]
    ws = await http.ws_connect(f"{srv_ws}/ws/rooms/{slug}?token={token}")
    first = await ws.receive_json(timeout=10)
    assert first["type"] == "snapshot"
    return ws


async def _chat(ws: Any, text: str) -> None:
    await ws.send_json({"op": "chat.send", "id": text, "text": text})
    while True:
        frame = await ws.receive_json(timeout=10)
        if frame.get("id") == text:
            assert frame["type"] == "ack", frame
            return


async def test_a_page_that_reconnects_recovers_the_missed_chat(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess) -> None:
    slug, _ = await _room(http)
    alice = await pages.open(f"/watch/{slug}", "alice")
    await _connected(alice)
    bob = await _fan_socket(http, srv.ws_url, slug, "bob")
    await _chat(bob, "before the gap")
    await expect(_message(alice, "before the gap")).to_have_count(1)

    await alice.evaluate("() => window.nal.socket.close()")
    await expect(alice.locator("#socket-status")).to_have_text("Disconnected")
    await _chat(bob, "missed one")
    await _chat(bob, "missed two")
    await alice.evaluate("() => window.nal.socket.connect()")
    await _connected(alice)
    await expect(alice.locator("#chat-log li.msg .text")).to_have_text(["before the gap", "missed one", "missed two"])
    await _chat(bob, "after the gap")
    await expect(alice.locator("#chat-log li.msg .text")).to_have_text(
        ["before the gap", "missed one", "missed two", "after the gap"])
    await bob.close()


async def test_pages_reconnect_by_themselves_after_a_server_restart(
        pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess) -> None:
    slug, _ = await _room(http)
    alice = await pages.open(f"/watch/{slug}", "alice")
    await _connected(alice)
    await _send(alice, "before the restart")
    pages.allow("ERR_CONNECTION_REFUSED")  # the page retries while the server is down
    assert srv.terminate() == 0
    await expect(alice.locator("#socket-status")).to_contain_text("Reconnecting")
    srv.start()
    await _connected(alice)
    await _send(alice, "after the restart")
    await expect(_message(alice, "after the restart")).to_have_count(1)


async def test_a_timed_out_fan_is_told_until_when_and_cannot_type(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, _ = await _room(http, "maya")
    mod = await pages.open(f"/moderate/{slug}", "maya", signup=False)
    fan = await pages.open(f"/watch/{slug}", "chatty")
    for page in (mod, fan):
        await _connected(page)
    await _send(fan, "one more thing")
    await mod.get_by_role("button", name="Time out for 5 minutes: chatty").click()
    await expect(fan.locator("#chat-note")).to_contain_text("You are timed out until")
    await expect(fan.locator("#chat-input")).to_be_disabled()
    await expect(fan.locator("#room-notice")).to_be_hidden()  # said once, beside the chat
    await expect(fan.locator("#socket-status")).to_have_text("Connected")  # still watching, still in the room
    await pages.shot(fan, "watch-timed-out")


async def test_chat_shows_the_owner_and_host_badges(pages: Pages, http: aiohttp.ClientSession) -> None:
    slug, owner = await _room(http, "maya")
    await bearer(http, "helper")
    async with http.post(f"/api/rooms/{slug}/hosts", json={"username": "helper"}, headers=owner) as r:
        assert r.status == 201, await r.text()
    maya = await pages.open(f"/watch/{slug}", "maya", signup=False)
    host = await pages.open(f"/watch/{slug}", "helper", signup=False)
    fan = await pages.open(f"/watch/{slug}", "fan1")
    for page in (maya, host, fan):
        await _connected(page)
    await _send(maya, "welcome, everyone")
    await _send(host, "be kind in here")
    await _send(fan, "hello!")
    for page in (maya, host, fan):
        await expect(_message(page, "hello!")).to_have_count(1)
    for page in (fan, await pages.open(f"/watch/{slug}")):  # live, and from the snapshot for a late guest
        await expect(_message(page, "welcome, everyone").locator(".badge")).to_have_text("artist")
        await expect(_message(page, "welcome, everyone").locator(".badge.owner")).to_have_attribute(
            "title", "The room owner, performing")
        await expect(_message(page, "be kind in here").locator(".badge.host")).to_have_text("host")
        await expect(_message(page, "hello!").locator(".badge")).to_have_count(0)
    await pages.shot(fan, "watch-chat-roles")
