"""Recording settings (issue 13) through ``notalabel serve`` with ffmpeg publishing over RTMP:
a free room with ``record`` on is recorded (a free recording ``rec_...`` that becomes a VOD),
one with it off is not, nor is a show whose ``record`` is false although a tier includes
replay; the room's ``replay_access`` decides who replays a free recording (owner-only by
default, or public), on the playlist and on its segments.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.server.test_recording import (
    SEGMENT,
    account,
    ffmpeg_publish,
    ffprobe,
    iso,
    recording,
    stream_state,
)
from tests.support.wait import wait_until


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def room(http: aiohttp.ClientSession, base: str, owner: dict[str, str], title: str) -> dict[str, Any]:
    r = await http.post(f"{base}/api/rooms", json={"title": title}, headers=owner)
    assert r.status == 201, await r.text()
    body: dict[str, Any] = await r.json()
    assert body["record"] is False and body["replay_access"] == "owner"  # the defaults
    return body


async def test_record_on_a_free_room_and_on_a_show_and_who_replays_a_free_recording(
    server_process: Any, http: aiohttp.ClientSession
) -> None:
    srv = server_process()
    _token, owner = await account(http, srv.url)
    _other_token, other = await account(http, srv.url)
    on, off, show_room = [await room(http, srv.url, owner, t) for t in ("Free on", "Free off", "Show off")]
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"record": True}, headers=other)
    assert r.status == 403
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"record": "yes"}, headers=owner)
    assert r.status == 400
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"record": True}, headers=owner)
    assert r.status == 200 and (await r.json())["record"] is True

    now = datetime.datetime.now(datetime.UTC).timestamp()
    r = await http.post(f"{srv.url}/api/rooms/{show_room['slug']}/shows", headers=owner,
                        json={"title": "Not kept", "starts_at": iso(now - 60), "replay_hours": 48})
    show = await r.json()
    assert show["record"] is False  # no tier with replay yet
    r = await http.post(f"{srv.url}/api/shows/{show['id']}/tiers", headers=owner,
                        json={"name": "Live + replay", "price": 500, "replay": True})
    assert r.status == 201
    r = await http.get(f"{srv.url}/api/shows/{show['id']}")
    assert (await r.json())["record"] is True  # the default with a replay tier
    r = await http.patch(f"{srv.url}/api/shows/{show['id']}", json={"record": False}, headers=other)
    assert r.status == 403
    r = await http.patch(f"{srv.url}/api/shows/{show['id']}", json={"record": False}, headers=owner)
    assert r.status == 200 and (await r.json())["record"] is False

    procs = [ffmpeg_publish(f"{srv.rtmp_url}/{r['stream_key']}", 240) for r in (on, off, show_room)]
    try:
        for r in (on, off, show_room):
            await wait_until(lambda r=r: stream_state(http, srv.url, r["slug"]), lambda s: s == "live", 90)
        status = await wait_until(lambda: recording(http, srv.url, on["slug"], owner),
                                  lambda s: s.get("segments", 0) >= 2, 90)
        # the other two went live before the first recorded two segments: had they been recorded,
        # their recorders would have started
        assert await recording(http, srv.url, off["slug"], owner) == {}
        assert await recording(http, srv.url, show_room["slug"], owner) == {}
        for r in (on, off, show_room):
            resp = await http.post(f"{srv.url}/api/rooms/{r['slug']}/stream/end", headers=owner)
            assert resp.status == 200
        status = await wait_until(lambda: recording(http, srv.url, on["slug"], owner),
                                  lambda s: s.get("state") == "ended", 60)
    finally:
        for proc in procs:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
    assert await recording(http, srv.url, off["slug"], owner) == {}
    recording_id = status["show_id"]
    assert re.fullmatch(r"rec_[0-9a-f]{16}", recording_id), status
    r = await http.get(f"{srv.url}/api/shows/{show['id']}/recording", headers=owner)
    assert r.status == 404  # the show with record off has no recording

    playlist = f"{srv.url}/replay/{recording_id}/index.m3u8"
    r = await http.get(playlist, headers=owner)
    assert r.status == 200, await r.text()
    text = await r.text()
    assert text.endswith("#EXT-X-ENDLIST\n") and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    segment = re.findall(r"^(seg-\d+\.m4s)$", text, re.M)[0]
    r = await http.get(f"{srv.url}/api/shows/{recording_id}/recording", headers=owner)
    assert r.status == 200 and (await r.json())["state"] == "ended"

    async def guest_sees() -> list[int]:
        async with aiohttp.ClientSession() as guest:
            statuses = []
            for url in (playlist, f"{srv.url}/replay/{recording_id}/{segment}",
                        f"{srv.url}/api/shows/{recording_id}/recording"):
                async with guest.get(url, headers={"Range": "bytes=0-99"} if url.endswith(".m4s") else {}) as resp:
                    statuses.append(resp.status)
                    if resp.status == 403:
                        assert (await resp.json())["error"] == "owner_only"
            return statuses

    assert await guest_sees() == [403, 403, 403]  # owner-only by default
    r = await http.get(playlist, headers=other)
    assert r.status == 403  # signed in is not enough
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"replay_access": "everyone"}, headers=owner)
    assert r.status == 400
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"replay_access": "public"}, headers=other)
    assert r.status == 403
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"replay_access": "public"}, headers=owner)
    assert r.status == 200 and (await r.json())["replay_access"] == "public"
    assert await guest_sees() == [200, 206, 200]
    r = await http.patch(f"{srv.url}/api/rooms/{on['slug']}", json={"replay_access": "owner"}, headers=owner)
    assert r.status == 200
    assert await guest_sees() == [403, 403, 403]


async def test_a_free_rooms_publisher_reconnect_is_a_discontinuity_in_the_same_recording(
    server_process: Any, http: aiohttp.ClientSession
) -> None:
    """As a show's (test_recording): OBS reconnecting within the grace continues the same free
    recording after one EXT-X-DISCONTINUITY, not a second ``rec_...``."""
    srv = server_process(reconnect_grace_s=30)
    token, owner = await account(http, srv.url)
    free = await room(http, srv.url, owner, "Free reconnect")
    r = await http.patch(f"{srv.url}/api/rooms/{free['slug']}", json={"record": True}, headers=owner)
    assert r.status == 200
    slug, url = free["slug"], f"{srv.rtmp_url}/{free['stream_key']}"
    procs = [ffmpeg_publish(url, 10)]
    try:
        first = await wait_until(lambda: recording(http, srv.url, slug, owner), lambda s: s.get("segments", 0) >= 1, 90)
        assert await asyncio.to_thread(procs[0].wait, 120) == 0
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "reconnecting", 60)
        procs.append(ffmpeg_publish(url, 10))  # OBS reconnects
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        assert await asyncio.to_thread(procs[1].wait, 120) == 0
        resp = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end", headers=owner)
        assert resp.status == 200
        status = await wait_until(lambda: recording(http, srv.url, slug, owner), lambda s: s.get("state") == "ended", 60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            await asyncio.to_thread(proc.wait, 10)
    assert status["show_id"] == first["show_id"] and status["discontinuities"] == 1, (first, status)
    assert status["gaps"] == 0 and status["error"] is None
    r = await http.get(f"{srv.url}/replay/{status['show_id']}/index.m3u8", headers=owner)
    assert r.status == 200, await r.text()
    text = await r.text()
    assert text.endswith("#EXT-X-ENDLIST\n") and text.count("#EXT-X-DISCONTINUITY\n") == 1
    listed = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text))
    assert listed > 10 + SEGMENT, listed  # both halves are in it
    probed = await ffprobe(f"{srv.url}/replay/{status['show_id']}/index.m3u8", token)
    assert sorted(s["codec_name"] for s in probed["streams"]) == ["aac", "h264"]
