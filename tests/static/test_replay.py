"""Replay in Chromium (issue 13): ffmpeg publishes a show with two songs played; a ticket holder
whose tier includes replay plays the recording and seeks to the second chapter, through our MSE
player (?player=mse: Chromium plays HLS natively) and natively; a holder of a
tier without replay and a guest are refused (403); once the replay window closed everyone but
the owner is refused, and retention removes the files when the owner stops keeping them.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.server.test_live import ffmpeg_publish
from tests.static.conftest import Pages, bearer, create_room
from tests.support.roomsocket import RoomSocket
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until

SECONDS = 34
GAP_S = 8  # between the songs: the second chapter starts past what the MSE player buffers ahead at first


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}",
                                         recording_sweep_s=1, recording_grace_h=0)
    return proc


def iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).isoformat()


async def json_of(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as r:
        return r.status, await r.json()


async def recorded_show(http: aiohttp.ClientSession, srv: ServerProcess, owner: dict[str, str],
                        token: str) -> tuple[str, dict[str, str]]:
    """A show with two tiers (with and without replay), recorded while two songs are played."""
    room = await create_room(http, owner, "Replayed")
    slug = room["slug"]
    _, show = await json_of(http, "POST", f"/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Night one", "starts_at": iso(time.time() - 60), "replay_hours": 24})
    tiers = {}
    for name, replay in (("replay", True), ("live", False)):
        status, tier = await json_of(http, "POST", f"/api/shows/{show['id']}/tiers", headers=owner,
                                     json={"name": name, "price": 500, "replay": replay})
        assert status == 201, tier
        tiers[name] = tier["id"]
    sock = await RoomSocket.connect(http, srv.ws_url, slug, token)
    proc = ffmpeg_publish(f"{srv.rtmp_url}/{room['stream_key']}", SECONDS)
    try:

        async def recording() -> dict[str, Any]:
            return (await json_of(http, "GET", f"/api/rooms/{slug}/recording", headers=owner))[1]["recording"] or {}

        await wait_until(recording, lambda r: r.get("segments", 0) >= 1, 90)
        for title in ("Opening", "Encore"):
            if title == "Encore":
                await asyncio.sleep(GAP_S)
            _, song = await json_of(http, "POST", f"/api/rooms/{slug}/songs", headers=owner,
                                    json={"title": title, "artist": "The Band"})
            assert (await sock.op("song.request", song_id=song["id"]))["type"] == "ack"
            await sock.wait_for(lambda title=title: any(
                q["song"]["title"] == title for e in sock.of_type("song.queue") for q in e["data"]["queue"]))
            queue = sock.of_type("song.queue")[-1]["data"]["queue"]
            request_id = next(q["id"] for q in queue if q["song"]["title"] == title)
            assert (await sock.op("song.play", request_id=request_id))["type"] == "ack"
            await asyncio.sleep(6)  # the song lasts 6 s of the stream
            assert (await sock.op("song.done", request_id=request_id))["type"] == "ack"
        assert await asyncio.to_thread(proc.wait, 120) == 0
        status, _ = await json_of(http, "POST", f"/api/rooms/{slug}/stream/end", headers=owner)
        assert status == 200
        await wait_until(recording, lambda r: r.get("state") == "ended", 60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        await sock.close()
    return show["id"], tiers


async def current_time(page: Page) -> float:
    return float(await page.eval_on_selector("#video", "v => v.currentTime"))


async def test_replay_tiers_window_and_retention(pages: Pages, http: aiohttp.ClientSession,
                                                 srv: ServerProcess) -> None:
    owner = await bearer(http, "perf")
    token = owner["Authorization"].split()[1]
    holder_ctx = await pages.context("fan_replay")
    live_ctx = await pages.context("fan_live")
    native_ctx = await pages.context("fan_native")  # a ticket of its own: one device per ticket
    show_id, tiers = await recorded_show(http, srv, owner, token)
    for user, tier in (("fan_replay", "replay"), ("fan_live", "live"), ("fan_native", "replay")):
        status, body = await json_of(http, "POST", f"/api/shows/{show_id}/comps", headers=owner,
                                     json={"tier_id": tiers[tier], "username": user})
        assert status == 201, body

    _, body = await json_of(http, "GET", f"/api/shows/{show_id}/recording", headers=owner)
    second = body["chapters"][1]["start"]
    assert second > 3

    # The analytics chart marks the same setlist: each song from its song.play to its song.done.
    async def setlist() -> list[dict[str, Any]]:
        return (await json_of(http, "GET", f"/api/shows/{show_id}/analytics", headers=owner))[1]["series"]["marks"]

    marks = await wait_until(setlist, lambda m: len(m) == 2 and all(x["end"] for x in m), 60)
    chapters = body["chapters"]
    assert [m["label"] for m in marks] == [f"{c['title']} - {c['artist']}" for c in chapters]
    for mark, chapter in zip(marks, chapters, strict=True):  # wall time there, media time here
        assert abs((mark["end"] - mark["at"]) - (chapter["end"] - chapter["start"])) < 1, (mark, chapter)
        assert abs((mark["at"] - marks[0]["at"]) - (chapter["start"] - chapters[0]["start"])) < 1, (mark, chapter)
    async with http.get(f"/api/shows/{show_id}/analytics/viewers.svg", headers=owner) as r:
        svg = await r.text()
    assert r.status == 200 and "Setlist" in svg
    assert all(m["label"] in svg and f"{m['label']} (ends)" in svg for m in marks), svg

    holder = await pages.open(f"/replay/{show_id}?player=mse", ctx=holder_ctx)
    await expect(holder.locator("#replay-status")).to_have_attribute("data-code", "ready")
    await expect(holder.locator("#video")).to_have_attribute("data-player", "mse")
    await wait_until(lambda: holder.eval_on_selector("#video", "v => v.src"), lambda src: src.startswith("blob:"), 60)
    buttons = holder.locator("#chapters button")
    await expect(buttons).to_have_count(2)
    await expect(buttons.nth(1)).to_contain_text("Encore")
    await wait_until(lambda: current_time(holder), lambda t: t > 1.0, 60)  # it plays
    buffered_end = await holder.eval_on_selector("#video", "v => v.buffered.end(v.buffered.length - 1)")
    assert buffered_end < second, (buffered_end, second)  # the seek has to fetch the chapter's segment
    await buttons.nth(1).click()
    at = await wait_until(lambda: current_time(holder), lambda t: second <= t < second + 8, 60)
    loads = """second => {
        const p = window.nal.replay;
        const holding = p.playlist.segments.find((s) => s.start <= second && second < s.start + s.duration);
        return {holding: holding.msn, loads: p.loads};
    }"""
    await wait_until(lambda: holder.evaluate(loads, second), lambda f: f["holding"] in f["loads"], 60)
    frames = await holder.evaluate("document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames")
    await wait_until(lambda: current_time(holder), lambda t: t > at + 1.0, 60)  # and plays on from there
    assert not await holder.eval_on_selector("#video", "v => v.paused")
    await wait_until(lambda: holder.evaluate(
        "document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames"), lambda n: n > frames + 10, 60)

    native = await pages.open(f"/replay/{show_id}", ctx=native_ctx)
    await expect(native.locator("#replay-status")).to_have_attribute("data-code", "ready")
    await expect(native.locator("#video")).to_have_attribute("data-player", "native")
    await wait_until(lambda: current_time(native), lambda t: t > 1.0, 60)
    await native.locator("#chapters button").nth(1).click()
    at = await wait_until(lambda: current_time(native), lambda t: second <= t < second + 8, 60)
    await wait_until(lambda: current_time(native), lambda t: t > at + 0.5, 60)
    holder_url = await holder.eval_on_selector("#video", "v => v.dataset.playlist")

    live = await pages.open(f"/replay/{show_id}", ctx=live_ctx)
    await expect(live.locator("#replay-status")).to_have_attribute("data-code", "tier_without_replay")
    r = await live_ctx.request.get(f"/replay/{show_id}/index.m3u8")
    assert r.status == 403
    guest = await pages.open(f"/replay/{show_id}")
    await expect(guest.locator("#replay-status")).to_have_attribute("data-code", "replay_needed")
    async with http.get(f"/replay/{show_id}/index.m3u8") as r:
        assert r.status == 403
    r = await holder_ctx.request.get(holder_url)
    assert r.status == 200

    status, _ = await json_of(http, "PUT", f"/api/shows/{show_id}/recording/keep", headers=owner, json={"keep": True})
    assert status == 200
    status, _ = await json_of(http, "PATCH", f"/api/shows/{show_id}", headers=owner,
                              json={"ends_at": iso(time.time() - 30), "replay_hours": 0})
    assert status == 200
    r = await holder_ctx.request.get(holder_url)
    assert r.status == 403 and (await r.json())["error"] == "replay_window_closed"
    async with http.get(f"/replay/{show_id}/index.m3u8", headers=owner) as r:
        assert r.status == 200  # the owner still can, and the kept recording stays

    status, _ = await json_of(http, "PUT", f"/api/shows/{show_id}/recording/keep", headers=owner, json={"keep": False})
    assert status == 200
    directory = srv.data_dir / "recordings" / show_id

    async def gone() -> bool:
        return not directory.exists()

    await wait_until(gone, bool, 60)  # retention removed the files
    async with http.get(f"/replay/{show_id}/index.m3u8", headers=owner) as r:
        assert r.status == 404


async def test_the_studio_exports_a_recording_with_progress(pages: Pages, http: aiohttp.ClientSession,
                                                            srv: ServerProcess) -> None:
    owner = await bearer(http, "perf")
    token = owner["Authorization"].split()[1]
    show_id, _tiers = await recorded_show(http, srv, owner, token)
    ctx = await pages.context("perf", signup=False)
    slug = (await json_of(http, "GET", f"/api/shows/{show_id}"))[1]["room"]
    studio = await pages.open(f"/studio/{slug}", ctx=ctx)
    item = studio.locator(f'#recordings li[data-show="{show_id}"]')
    await expect(item).to_contain_text("Night one")
    await expect(item).to_contain_text("ended")
    await expect(item.get_by_role("link", name="Replay")).to_have_attribute("href", f"/replay/{show_id}")
    await item.get_by_role("button", name="Export MP4").click()
    download = item.get_by_role("link", name="Download MP4")
    await expect(download).to_be_visible(timeout=120_000)
    await expect(item.locator("progress")).to_have_attribute("value", "1")
    r = await ctx.request.get(await download.get_attribute("href") or "")
    assert r.status == 200 and r.headers["content-type"] == "video/mp4" and len(await r.body()) > 100_000

    await item.get_by_role("checkbox").check()
    await expect(item.get_by_role("status")).to_contain_text("Kept")
    _, body = await json_of(http, "GET", f"/api/shows/{show_id}/recording", headers=owner)
    assert body["kept"] is True
    status, body = await json_of(http, "DELETE", f"/api/shows/{show_id}/recording")
    assert status == 401
    status, body = await json_of(http, "DELETE", f"/api/shows/{show_id}/recording", headers=owner)
    assert status == 200 and body["deleted"] is True
    assert not (srv.data_dir / "recordings" / show_id).exists()
    status, body = await json_of(http, "GET", f"/api/shows/{show_id}/recording", headers=owner)
    assert status == 404 and body["error"] == "no_recording"
