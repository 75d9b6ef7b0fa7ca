"""Show analytics end to end, in one process on real loopback ports: ffmpeg publishes as OBS
would (RTMP), a WHEP viewer (aiortc) and an LL-HLS viewer (HTTP, following the playlist with
its viewing token) join and leave at times the test notes, fans chat, request and vote for a
song that the performer plays, a host deletes a message, a fan tips through the sandbox.
The stored record must say what happened: the peak and its time, unique viewers and watch
time within one sample period, engagement exactly, and revenue equal to the ledger's.

The sample period is 1 s here (``--analytics-sample-s``); every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from payments import reports
from server.analytics_store import Sample
from tests.server.test_viewing import local, publish
from tests.support.money import Running, running
from tests.support.roomsocket import RoomSocket
from tests.support.servers import free_port
from tests.support.wait import wait_until

PERIOD = 1.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Show:
    srv: Running
    slug: str
    show_id: str
    owner: dict[str, str]
    owner_party: str
    people: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return self.people[who][0]

    async def viewing(self, who: str) -> dict[str, Any]:
        r = await self.srv.http.post(f"/api/shows/{self.show_id}/viewing-sessions", json={},
                                     headers=self.headers(who))
        assert r.status == 201, await r.text()
        body: dict[str, Any] = await r.json()
        return body

    async def samples(self) -> list[Sample]:
        return await self.srv.services.analytics.store.samples(self.show_id)

    async def analytics(self, who: str | None = None, path: str = "") -> aiohttp.ClientResponse:
        headers = self.headers(who) if who else (self.owner if who is None else {})
        return await self.srv.http.get(f"/api/shows/{self.show_id}/analytics{path}", headers=headers)


async def make_show(srv: Running, starts_at: float) -> Show:
    owner, _ = await srv.signup("perf")
    slug = await srv.room(owner)
    me = await (await srv.http.get("/api/me", headers=owner)).json()
    r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner, json={"title": "Live", "starts_at": iso(starts_at)})
    assert r.status == 201, await r.text()
    show = Show(srv, slug, (await r.json())["id"], owner, f"user:{me['id']}")
    tiers = {}
    for name, latency in (("vip", "realtime"), ("std", "standard")):
        r = await srv.http.post(f"/api/shows/{show.show_id}/tiers", headers=owner,
                                json={"name": name, "price": 1000, "latency_class": latency, "chat": True})
        assert r.status == 201, await r.text()
        tiers[name] = (await r.json())["id"]
    for who in ("vera", "stan", "nora", "finn"):
        show.people[who] = await srv.signup(who)
    for who, tier in (("vera", "vip"), ("stan", "std")):
        r = await srv.http.post(f"/api/shows/{show.show_id}/comps", headers=owner,
                                json={"username": who, "tier_id": tiers[tier]})
        assert r.status == 201, await r.text()
    r = await srv.http.post(f"/api/rooms/{slug}/hosts", headers=owner, json={"username": "nora"})
    assert r.status == 201, await r.text()
    return show


@pytest.fixture
async def srv(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    settings = {"rtmp": f"127.0.0.1:{free_port()}", "webrtc_host_addresses": "127.0.0.1",
                "analytics_sample_s": PERIOD}
    async with running(tmp_path, database_url, **settings) as srv:
        await srv.services.live.start_rtmp()
        yield srv


@pytest.fixture
def ffmpeg() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(10)


class HlsViewer:
    """Follows the live playlist with its viewing token (and fetches the newest segment), as
    a player does, until stopped; notes when its first and last playlist requests were sent."""

    def __init__(self, http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> None:
        self.http, self.url, self.headers = http, url, headers or {}
        self.first: float | None = None
        self.last: float | None = None
        self.fetches = 0
        self._stop = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            async with self.http.get(self.url, headers=self.headers) as r:
                text = await r.text()
                assert r.status == 200, text
            self.first = self.first if self.first is not None else started
            self.last = started
            self.fetches += 1
            uris = [line for line in text.split("\n") if line and not line.startswith("#")]
            if uris:
                base = self.url.rsplit("/", 1)[0]
                async with self.http.get(f"{base}/{uris[-1]}", headers=self.headers) as seg:
                    await seg.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.25)

    async def stop(self) -> None:
        self._stop.set()
        await self.task


def near(value: float, wanted: float, within: float) -> bool:
    return abs(value - wanted) <= within


async def test_a_short_show_is_recorded_as_it_happened(srv: Running, ffmpeg: list[Any]) -> None:
    from tests.media.webrtc.support import Viewer

    show = await make_show(srv, time.time() - 60)
    r = await srv.http.post(f"/api/rooms/{show.slug}/stream-key", headers=show.owner)
    ffmpeg.append(publish(srv.services.settings, (await r.json())["stream_key"]))
    r = await srv.http.post(f"/api/rooms/{show.slug}/songs", headers=show.owner,
                            json={"title": "Blue Moon", "artist": "The Band"})
    assert r.status == 201, await r.text()
    song_id = (await r.json())["id"]

    async def state() -> dict[str, Any]:
        return dict(await (await srv.http.get(f"/api/rooms/{show.slug}/stream")).json())

    await wait_until(state, lambda s: bool(s.get("audio_codec")) and s.get("bitrate"), timeout=60)
    await wait_until(show.samples, lambda s: bool(s), timeout=30)  # sampled while nobody watches

    # A WHEP viewer (vera, realtime tier) alone first.
    vera = await show.viewing("vera")
    viewer, code, body = await Viewer.watch(srv.http, srv.url, show.slug, token=vera["token"])
    whep_joined = time.time()  # the server counts from its 201, a moment before
    assert code == 201, body
    await wait_until(show.samples, lambda s: any(x.webrtc == 1 and x.hls == 0 for x in s), timeout=30)

    # Then an LL-HLS viewer (stan) as well.
    stan = await show.viewing("stan")
    hls = HlsViewer(srv.http, local(stan["hls_url"]))
    await wait_until(show.samples, lambda s: any(x.webrtc + x.hls == 2 for x in s), timeout=30)

    # Chat, a song request with a vote that the performer plays, a deletion, a tip.
    vera_sock = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.people["vera"][1])
    stan_sock = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.people["stan"][1])
    nora_sock = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.people["nora"][1])
    owner_sock = await RoomSocket.connect(srv.http, srv.ws_url, show.slug, show.owner["Authorization"][7:])
    for text in ("hello", "what a sound", "encore!"):
        assert (await vera_sock.op("chat.send", text=text))["type"] == "ack"
    assert (await stan_sock.op("chat.send", text="spam spam"))["type"] == "ack"
    await nora_sock.wait_for(lambda: len(nora_sock.of_type("chat.message")) == 4)
    spam = nora_sock.of_type("chat.message")[-1]["data"]["id"]
    assert (await nora_sock.op("chat.delete", message_id=spam))["type"] == "ack"
    assert (await vera_sock.op("song.request", song_id=song_id))["type"] == "ack"
    await stan_sock.wait_for(lambda: bool(stan_sock.of_type("song.queue")))
    request_id = stan_sock.of_type("song.queue")[-1]["data"]["queue"][0]["id"]
    assert (await stan_sock.op("song.vote", request_id=request_id))["type"] == "ack"
    assert (await owner_sock.op("song.play", request_id=request_id))["type"] == "ack"
    tip = await srv.tip(show.slug, show.headers("stan"), amount=500, message="for the band")
    assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 200
    await stan_sock.wait_for(lambda: bool(stan_sock.of_type("tip")))

    # vera leaves (WHEP DELETE, as a player ends its session), then stan stops.
    async with srv.http.delete(viewer.location, headers={"Authorization": f"Bearer {vera['token']}"}) as r:
        assert r.status in (200, 204), await r.text()
    whep_left = time.time()
    await viewer.close()
    await wait_until(show.samples, lambda s: any(x.at > whep_left and x.webrtc == 0 and x.hls == 1 for x in s),
                     timeout=30)
    await hls.stop()
    assert hls.first is not None and hls.last is not None
    recorder = srv.services.analytics
    await wait_until(lambda: _len(recorder.audience), lambda n: n == 0, timeout=30)
    emptied = time.time()
    await wait_until(show.samples, lambda s: any(x.at > emptied for x in s), timeout=30)
    for sock in (vera_sock, stan_sock, nora_sock, owner_sock):
        await sock.close()

    r = await show.analytics()
    assert r.status == 200, await r.text()
    got = await r.json()
    aud = got["audience"]
    assert aud["peak"]["viewers"] == 2 and aud["peak"]["webrtc"] == 1 and aud["peak"]["hls"] == 1, aud
    assert hls.first - PERIOD <= aud["peak"]["at"] <= whep_left + PERIOD, (aud, hls.first, whep_left)
    assert (aud["unique_viewers"], aud["signed_in"], aud["anonymous"]) == (2, 2, 0)
    assert (aud["new_fans"], aud["returning_fans"]) == (2, 0)
    rows = {v["kind"]: v["watch_s"] for v in await recorder.store.viewers(show.show_id)}
    assert near(rows["webrtc"], whep_left - whep_joined, PERIOD), (rows, whep_left - whep_joined)
    assert near(rows["hls"], hls.last - hls.first, PERIOD), (rows, hls.last - hls.first)
    watched = (whep_left - whep_joined) + (hls.last - hls.first)
    assert near(aud["watch_s"], watched, PERIOD), (aud, watched)
    assert near(aud["average_watch_s"], watched / 2, PERIOD)
    viewers = got["series"]["viewers"]
    assert max(v["total"] for v in viewers) == 2 and all(v["nodes"] == 1 for v in viewers)
    assert all(h["bitrate"] and h["fps"] for h in got["series"]["health"][-3:]), got["series"]["health"][-3:]
    assert got["series"]["health"][-1]["keyframe_ms"] == 1000  # ffmpeg -g 30 at 30 fps

    eng = got["engagement"]
    assert (eng["chat_messages"], eng["distinct_chatters"], eng["song_requests"], eng["song_votes"],
            eng["moderation_actions"]) == (4, 2, 1, 1, 1), eng
    assert eng["top_songs"] == [{"song": "Blue Moon - The Band", "requests": 1}]
    assert [m["label"] for m in got["series"]["marks"]] == ["Blue Moon - The Band"]

    # Revenue equals the ledger's (a fresh database: the balances are this show's flows).
    usd = got["revenue"]["USD"]
    engine = srv.services.engine
    fees = {b.kind: b.balance for b in await reports.balances(engine, "processor:sandbox")}
    assert usd["gross"] == {"tickets": {}, "tips": 500, "boosts": 0} and usd["gross_total"] == 500
    assert usd["fees"] == fees["fee"]
    assert usd["commission"] == (await srv.balances("platform"))["commission"]
    assert usd["shares"] == {show.owner_party: (await srv.balances(show.owner_party))["earnings"]}
    assert usd["net"] == 500 - usd["fees"] - usd["commission"]
    assert (usd["refunds"], usd["disputes"], usd["held"]) == (0, 0, 0)
    assert got["supporters"] == [{"name": "stan", "amount": 500}]
    assert sum(x["amount"] for x in got["series"]["revenue"]) == 500
    await srv.ledger_ok()

    # Every series as CSV, the same rows as the JSON.
    r = await show.analytics(path="/viewers.csv")
    lines = (await r.text()).strip().split("\n")
    assert r.headers["Content-Type"].startswith("text/csv")
    assert lines[0] == "at,webrtc,hls,total,nodes" and len(lines) >= len(viewers) + 1  # still sampling
    assert lines[1:len(viewers) + 1] == [f"{v['at']},{v['webrtc']},{v['hls']},{v['total']},{v['nodes']}" for v in viewers]
    for name, header in (("health", "at,bitrate"), ("chat", "minute,chat"), ("marks", "at,kind,label"),
                         ("revenue", "minute,source,amount")):
        r = await show.analytics(path=f"/{name}.csv")
        assert r.status == 200 and (await r.text()).startswith(header)

    # A host sees no money; a fan, a guest and an unknown show are refused.
    r = await show.analytics("nora")
    host = await r.json()
    assert r.status == 200 and "revenue" not in host and "supporters" not in host
    assert "revenue" not in host["series"]
    assert {k: v for k, v in host["audience"].items() if k != "now"} == {k: v for k, v in aud.items() if k != "now"}
    assert (await show.analytics("nora", "/revenue.csv")).status == 403
    assert (await show.analytics("finn")).status == 403
    assert (await srv.http.get(f"/api/shows/{show.show_id}/analytics")).status == 401
    assert (await srv.http.get("/api/shows/shw_nope/analytics", headers=show.owner)).status == 404
    assert (await show.analytics(path="/nope.csv")).status == 404


async def _len(audience: Any) -> int:
    return len(audience)


async def test_a_show_that_never_started_answers_empty(srv: Running) -> None:
    show = await make_show(srv, time.time() + 30 * 86_400)
    r = await show.analytics()
    assert r.status == 200, await r.text()
    got = await r.json()
    assert got["audience"]["peak"] == {"viewers": 0, "webrtc": 0, "hls": 0, "at": None}
    assert got["audience"]["unique_viewers"] == 0 and got["audience"]["watch_s"] == 0
    assert all(series == [] for series in got["series"].values())
    assert got["revenue"] == {} and got["engagement"]["chat_messages"] == 0
    r = await show.analytics(path="/viewers.csv")
    assert (await r.text()) == "at,webrtc,hls,total,nodes\n"


async def test_a_free_room_counts_a_signed_in_fan_by_user_and_a_guest_as_anonymous(
        srv: Running, ffmpeg: list[Any]) -> None:
    """No tickets (a show without tiers): the fan's browser sends its session cookie with
    every playlist request, so it counts as its user (as a ticket holder does); a guest is
    an anonymous client."""
    owner, _ = await srv.signup("perf")
    slug = await srv.room(owner)
    r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Free", "starts_at": iso(time.time() - 60)})
    assert r.status == 201, await r.text()
    show_id = (await r.json())["id"]
    fan_headers, fan_token = await srv.signup("fanny")
    fan_id = (await (await srv.http.get("/api/me", headers=fan_headers)).json())["id"]
    r = await srv.http.post(f"/api/rooms/{slug}/stream-key", headers=owner)
    ffmpeg.append(publish(srv.services.settings, (await r.json())["stream_key"]))
    await wait_until(lambda: _stream(srv, slug), lambda s: bool(s.get("audio_codec")), timeout=60)

    recorder = srv.services.analytics
    url = f"{srv.url}/live/{slug}/index.m3u8"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        fan = HlsViewer(http, url, {"Cookie": f"nal_session={fan_token}", "User-Agent": "fan-player"})
        guest = HlsViewer(http, url, {"User-Agent": "guest-player"})
        await wait_until(lambda: recorder.store.samples(show_id), lambda s: any(x.hls == 2 for x in s), timeout=30)
        await fan.stop()
        await guest.stop()
    await wait_until(lambda: _len(recorder.audience), lambda n: n == 0, timeout=30)

    rows = {v["viewer"]: v for v in await recorder.store.viewers(show_id)}
    assert len(rows) == 2, rows
    assert rows[f"u:{fan_id}"]["user_id"] == fan_id
    [anonymous] = [v for k, v in rows.items() if k != f"u:{fan_id}"]
    assert anonymous["viewer"].startswith("a:") and anonymous["user_id"] is None
    assert fan.first is not None and fan.last is not None
    assert near(rows[f"u:{fan_id}"]["watch_s"], fan.last - fan.first, PERIOD), (rows, fan.last - fan.first)
    got = await (await srv.http.get(f"/api/shows/{show_id}/analytics", headers=owner)).json()
    aud = got["audience"]
    assert (aud["unique_viewers"], aud["signed_in"], aud["anonymous"], aud["new_fans"]) == (2, 1, 1, 1), aud


async def _stream(srv: Running, slug: str) -> dict[str, Any]:
    return dict(await (await srv.http.get(f"/api/rooms/{slug}/stream")).json())
