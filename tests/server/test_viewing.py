"""Access in a room with a show on sale: the room socket's gate, LL-HLS with viewing tokens
(ffmpeg publishing over RTMP), WHEP only for realtime tiers, one device per ticket, and
revocation by refund and transfer."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.config import Settings
from tests.support.money import Running, running
from tests.support.roomsocket import RoomSocket
from tests.support.servers import free_port
from tests.support.wait import wait_until
from ticketing.tokens import ViewingGrant, sign


@dataclass
class Show:
    srv: Running
    slug: str
    show_id: str
    owner: dict[str, str]
    fans: dict[str, tuple[dict[str, str], str]]  # name -> (headers, session token)
    tickets: dict[str, str]

    async def viewing(self, who: str, **body: Any) -> aiohttp.ClientResponse:
        return await self.srv.http.post(f"/api/shows/{self.show_id}/viewing-sessions", json=body,
                                        headers=self.fans[who][0])


async def make_show(srv: Running) -> Show:
    owner, _ = await srv.signup("perf")
    slug = await srv.room(owner)
    r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Live", "starts_at": "2030-01-01T20:00:00Z"})
    show_id = (await r.json())["id"]
    tiers = {}
    for name, latency, chat in (("vip", "realtime", True), ("std", "standard", False)):
        r = await srv.http.post(f"/api/shows/{show_id}/tiers", headers=owner,
                                json={"name": name, "price": 1000, "latency_class": latency, "chat": chat})
        assert r.status == 201, await r.text()
        tiers[name] = (await r.json())["id"]
    fans, tickets = {}, {}
    for who in ("vera", "stan", "nora", "finn"):
        fans[who] = await srv.signup(who)
    for who, tier in (("vera", "vip"), ("stan", "std")):
        r = await srv.http.post(f"/api/shows/{show_id}/comps", headers=owner,
                                json={"username": who, "tier_id": tiers[tier]})
        tickets[who] = (await r.json())["id"]
    return Show(srv, slug, show_id, owner, fans, tickets)


@pytest.fixture
async def srv(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    async with running(tmp_path, database_url, rtmp=f"127.0.0.1:{free_port()}") as srv:
        await srv.services.live.start_rtmp()
        yield srv


@pytest.fixture
def ffmpeg() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(10)


def publish(settings: Settings, key: str) -> subprocess.Popen[bytes]:
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "smptebars=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-t", "120", "-f", "flv", f"{settings.rtmp_url}/{key}"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def status(srv: Running, path: str, **headers: str) -> int:
    async with srv.http.get(path, headers=headers) as r:
        return r.status


def local(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def test_ll_hls_and_whep_need_a_valid_viewing_token(srv: Running, ffmpeg: list[Any]) -> None:
    show = await make_show(srv)
    r = await srv.http.post(f"/api/rooms/{show.slug}/stream-key", headers=show.owner)
    ffmpeg.append(publish(srv.services.settings, (await r.json())["stream_key"]))
    stan = await (await show.viewing("stan")).json()
    assert "whep_url" not in stan
    playlist_url = local(stan["hls_url"])

    async def fetch() -> tuple[int, str]:
        async with srv.http.get(playlist_url) as answer:
            return answer.status, await answer.text()

    assert playlist_url == f"/live/{show.slug}/vt/{stan['token']}/index.m3u8"
    _, text = await wait_until(fetch, lambda got: got[0] == 200 and "#EXTINF" in got[1], timeout=60)
    uris = [u for u in re.findall(r'URI="([^"]+)"', text) + [x for x in text.splitlines() if x and x[0] != "#"]]
    assert uris and not any("?" in u or "/" in u for u in uris)  # relative: they resolve under the token
    segment = next(u for u in text.splitlines() if u and u[0] != "#")
    base = f"/live/{show.slug}/"
    assert await status(srv, playlist_url.rsplit("/", 1)[0] + "/" + segment) == 200
    async with srv.http.get(f"{base}index.m3u8?vt={stan['token']}") as answer:  # ?vt=: listed on every URI
        queried = await answer.text()
    uris = [u for u in re.findall(r'URI="([^"]+)"', queried) + [x for x in queried.splitlines() if x and x[0] != "#"]]
    assert uris and all(u.endswith("?vt=" + stan["token"]) for u in uris)
    assert await status(srv, base + uris[-1]) == 200
    bare = segment
    key = srv.services.access.key
    forged = sign(b"not the key" * 3, ViewingGrant(show.tickets["stan"], stan["session"], show.slug, True, True, 2**40))
    expired = sign(key, ViewingGrant(show.tickets["stan"], stan["session"], show.slug, False, False, 1))
    other = sign(key, ViewingGrant(show.tickets["stan"], stan["session"], "other-room", False, False, 2**40))
    for name in ("index.m3u8", bare, "init.mp4"):
        assert await status(srv, base + name) == 403
        for token in (forged, expired, other, "garbage"):
            assert await status(srv, f"{base}{name}?vt={token}") == 403, (name, token)
            assert await status(srv, f"{base}vt/{token}/{name}") == 403, (name, token)
    # WHEP: a standard tier is refused, a realtime one passes the gate (then needs an SDP offer)
    assert (await srv.http.post(f"/whep/{show.slug}", data="v=0", headers={"Content-Type": "application/sdp"})).status == 403
    r = await srv.http.post(f"/whep/{show.slug}", data="v=0",
                            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {stan['token']}"})
    assert r.status == 403
    vera = await (await show.viewing("vera")).json()
    assert vera["whep_url"].endswith(f"/whep/{show.slug}")
    r = await srv.http.post(f"/whep/{show.slug}", data="v=0",
                            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {vera['token']}"})
    assert r.status == 400  # past the gate: the offer itself is no good
    metrics = await (await srv.http.get("/metrics")).text()
    assert 'nal_viewing_denied_total{kind="hls",reason="forged"}' in metrics
    assert 'nal_viewing_denied_total{kind="whep",reason="standard_tier"}' in metrics


async def test_native_hls_plays_on_past_the_playlist_tokens_expiry_with_the_cookie(
        srv: Running, ffmpeg: list[Any]) -> None:
    """A native HLS player reloads the address it started with, whose ``?vt=`` expires; the
    ``nal_vt`` cookie the heartbeat renews carries it on, and the playlist lists that token."""
    show = await make_show(srv)
    r = await srv.http.post(f"/api/rooms/{show.slug}/stream-key", headers=show.owner)
    ffmpeg.append(publish(srv.services.settings, (await r.json())["stream_key"]))
    opened = await show.viewing("stan")
    stan = await opened.json()
    assert stan["heartbeat_s"] == 15  # a quarter of the default 60 s, at most 15
    jar = opened.cookies["nal_vt"]
    assert jar.value == stan["token"] and jar["path"] == f"/live/{show.slug}/" and jar["httponly"]
    assert jar["max-age"] == "60" and jar["samesite"] == "Lax"
    key, base = srv.services.access.key, f"/live/{show.slug}/"
    gone = sign(key, ViewingGrant(show.tickets["stan"], stan["session"], show.slug, False, False, 1))

    async def fetch(cookie: str | None) -> tuple[int, str]:
        headers = {"Cookie": f"nal_vt={cookie}"} if cookie else {}
        async with srv.http.get(f"{base}index.m3u8?vt={gone}", headers=headers) as answer:
            return answer.status, await answer.text()

    assert (await fetch(None))[0] == 403
    beat = await srv.http.post(local(stan["heartbeat_url"]), json={"token": stan["token"]},
                               headers=show.fans["stan"][0])
    fresh = (await beat.json())["token"]
    assert beat.cookies["nal_vt"].value == fresh
    _, text = await wait_until(lambda: fetch(fresh), lambda got: got[0] == 200 and "#EXTINF" in got[1], timeout=60)
    listed = [x for x in text.splitlines() if x and x[0] != "#"]
    assert listed and all(u.endswith("?vt=" + fresh) for u in listed)
    assert gone not in text
    assert await status(srv, base + listed[0].split("?")[0], Cookie=f"nal_vt={fresh}") == 200
    # a cookie of a session that was taken over holds no more than its ?vt= would
    await show.viewing("stan", takeover=True)
    assert (await fetch(fresh))[0] == 403


async def test_one_device_per_ticket_and_revocation(srv: Running) -> None:
    show = await make_show(srv)
    sock = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.fans["vera"][1])
    first = await (await show.viewing("vera")).json()
    access = srv.services.access
    assert await access.hls(show.slug, (first["token"],)) == first["token"]
    again = await show.viewing("vera")
    assert again.status == 409 and (await again.json())["error"] == "watching_elsewhere"
    second = await (await show.viewing("vera", takeover=True)).json()
    assert await access.hls(show.slug, (first["token"],)) is False
    assert await access.hls(show.slug, (second["token"],)) == second["token"]
    await sock.wait_for(lambda: sock.of_type("viewing.taken_over"))
    assert sock.of_type("viewing.taken_over")[0]["data"] == {"session": first["session"]}
    r = await srv.http.post(local(first["heartbeat_url"]), json={"token": first["token"]}, headers=show.fans["vera"][0])
    assert r.status == 409
    r = await srv.http.post(local(second["heartbeat_url"]), json={"token": second["token"]}, headers=show.fans["vera"][0])
    renewed = (await r.json())["token"]
    assert r.status == 200 and await access.hls(show.slug, (renewed,)) == renewed
    # transfer: vera's access ends; refund: stan's access ends
    r = await srv.http.post(f"/api/tickets/{show.tickets['vera']}/transfer", json={"username": "finn"},
                            headers=show.fans["vera"][0])
    assert r.status == 200
    assert await access.hls(show.slug, (second["token"],)) is False
    assert await sock.wait_closed() == 4001  # her socket must pass the gate again, and cannot
    assert (await show.viewing("vera")).status == 403
    stan = await (await show.viewing("stan")).json()
    assert (await srv.http.post(f"/api/tickets/{show.tickets['stan']}/refund", headers=show.owner)).status == 200
    assert await access.hls(show.slug, (stan["token"],)) is False
    await sock.close()


async def test_the_room_socket_is_gated_by_tickets(srv: Running) -> None:
    show = await make_show(srv)
    for params in ({}, {"token": show.fans["nora"][1]}):  # a guest, a fan without a ticket
        ws = await srv.http.ws_connect(f"{srv.ws_url}/ws/rooms/{show.slug}", params=params)
        told = await ws.receive_json()
        assert told["type"] == "not_admitted" and told["code"] == "ticket_needed", told
        public = told["data"]["show"]
        assert public["id"] == show.show_id and public["title"] == "Live"
        assert public["starts_at"] == "2030-01-01T20:00:00Z"
        assert [(t["name"], t["price"], t["latency_class"], t["chat"], t["remaining"]) for t in public["tiers"]] == [
            ("vip", 1000, "realtime", True, None), ("std", 1000, "standard", False, None)]
        assert "sold" not in public["tiers"][0]  # the owner's figures are not public
        said = str(told)
        assert "/live/" not in said and "/whep/" not in said and "vt=" not in said and "chat" not in told["data"]
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4001
        assert "ticket needed" in (msg.extra or "")
    vera = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.fans["vera"][1])
    assert (await vera.op("chat.send", text="hello from the front"))["type"] == "ack"
    stan = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.fans["stan"][1])
    assert "hello from the front" in str(stan.snapshot)  # reads chat
    assert (await stan.op("chat.send", text="me too"))["type"] == "error"  # a tier without chat
    for sock in (vera, stan):
        await sock.close()


async def test_a_takeover_ends_the_first_devices_whep_session(tmp_path: Path, database_url: str,
                                                              ffmpeg: list[Any]) -> None:
    from tests.media.webrtc.support import Viewer

    settings = {"rtmp": f"127.0.0.1:{free_port()}", "webrtc_host_addresses": "127.0.0.1"}
    async with running(tmp_path, database_url, **settings) as srv:
        await srv.services.live.start_rtmp()
        show = await make_show(srv)
        r = await srv.http.post(f"/api/rooms/{show.slug}/stream-key", headers=show.owner)
        ffmpeg.append(publish(srv.services.settings, (await r.json())["stream_key"]))
        async def live() -> bool:
            state = await (await srv.http.get(f"/api/rooms/{show.slug}/stream")).json()
            return bool(state.get("audio_codec"))

        await wait_until(live, bool, timeout=60)
        first = await (await show.viewing("vera")).json()
        viewer, code, body = await Viewer.watch(srv.http, srv.url, show.slug, token=first["token"])
        try:
            assert code == 201, body
            await wait_until(lambda: _frames(viewer), lambda n: n >= 10, timeout=30)
            assert await _whep_count(srv.services.live.webrtc, show.slug) == 1
            await show.viewing("vera", takeover=True)
            webrtc = srv.services.live.webrtc
            assert webrtc is not None
            await wait_until(lambda: _whep_count(webrtc, show.slug), lambda n: n == 0, timeout=30)
        finally:
            await viewer.close()


async def _frames(viewer: Any) -> int:
    return int(viewer.video_frames)


async def _whep_count(webrtc: Any, slug: str) -> int:
    return int(webrtc.viewers(slug))
