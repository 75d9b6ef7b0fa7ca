"""Guests cannot crowd out performers: WHEP offers that never connect fill only the viewers'
pool (capped per address and per room too) and are dropped soon; WHIP with the right key
still goes live. Wrong WHIP keys are throttled per (address, room).

Real peers: aiortc WHIP publishers and WHEP offers from aiortc clients that go away before
connecting (their sockets are closed, so the server's ICE checks never get an answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from media.hub import Hub
from media.webrtc.http import WEBRTC_KEY
from media.webrtc.ice import apply_ice_policy
from media.webrtc.session import WebRtc
from tests.media.webrtc.support import (
    KEY,
    LOOPBACK,
    Publisher,
    client_pc,
    make_app,
    post_offer,
    wait_for,
)

CAPS = dataclasses.replace(LOOPBACK, max_publishers=2, max_viewers=10, max_viewers_per_address=10,
                           max_viewers_per_room=10, connect_timeout_s=120.0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@dataclasses.dataclass
class CapSite:
    hub: Hub
    base: str
    http: aiohttp.ClientSession
    webrtc: WebRtc


@contextlib.asynccontextmanager
async def serve(**caps: Any) -> AsyncIterator[CapSite]:
    """The WHIP/WHEP app with :data:`CAPS` changed by ``caps``."""
    hub = Hub(reconnect_grace=2.0)
    app = make_app(hub, dataclasses.replace(CAPS, **caps))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield CapSite(hub, str(server.make_url("")).rstrip("/"), http, app[WEBRTC_KEY])
    finally:
        await server.close()
        hub.close()


def other_address(address: str = "127.0.0.2") -> aiohttp.ClientSession:
    """A client on another loopback address (Linux routes all of 127/8 to lo)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def dead_offer() -> str:
    """A real browser-like WHEP offer whose peer is gone before the answer comes back."""
    pc = client_pc()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    apply_ice_policy(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def whep(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, Any]:
    status, body, headers = await post_offer(http, url, await dead_offer())
    return status, (json.loads(body) if status != 201 else body), headers


async def go_live(site: CapSite, source: Path, slug: str, publishers: list[Publisher]) -> None:
    publisher, _ = await Publisher.offer(source)
    publishers.append(publisher)
    status, body, _ = await publisher.publish(site.http, site.base, slug)
    assert status == 201, body
    await wait_for(lambda: site.hub.get(slug) is not None)


@pytest.fixture
async def publishers() -> AsyncIterator[list[Publisher]]:
    started: list[Publisher] = []
    yield started
    for publisher in started:
        await publisher.close()


async def test_dead_viewers_fill_only_their_pool_and_whip_still_goes_live(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    async with serve(max_viewers=4) as site:
        await go_live(site, h264_source, "room1", publishers)
        for _ in range(4):
            status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
            assert status == 201, body
        assert site.webrtc.count("whep") == 4

        before = metric("nal_webrtc_refused_total", kind="whep", reason="viewers_full")
        status, body, headers = await whep(site.http, f"{site.base}/whep/room1")
        assert status == 503
        assert body["error"] == "viewers_full" and "viewer" in body["message"]
        assert headers["Retry-After"].isdigit()
        assert metric("nal_webrtc_refused_total", kind="whep", reason="viewers_full") == before + 1

        # A performer with the right key still goes live: publishers have a pool of their own.
        await go_live(site, h264_source, "room2", publishers)
        assert site.webrtc.count("whip") == 2
        before = metric("nal_webrtc_refused_total", kind="whip", reason="publishers_full")
        publisher, _ = await Publisher.offer(h264_source)
        publishers.append(publisher)
        status, body, _ = await publisher.publish(site.http, site.base, "room3")
        assert (status, json.loads(body)["error"]) == (503, "publishers_full")
        assert metric("nal_webrtc_refused_total", kind="whip", reason="publishers_full") == before + 1


async def test_viewers_are_capped_per_address_and_per_room(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    async with serve(max_viewers_per_address=3, max_viewers_per_room=3) as site:
        await go_live(site, h264_source, "room1", publishers)
        for _ in range(3):
            status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
            assert status == 201, body
        before = metric("nal_webrtc_refused_total", kind="whep", reason="room_full")
        status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
        assert (status, body["error"]) == (503, "room_full")
        assert metric("nal_webrtc_refused_total", kind="whep", reason="room_full") == before + 1

        await go_live(site, h264_source, "room2", publishers)
        before = metric("nal_webrtc_refused_total", kind="whep", reason="address_full")
        status, body, headers = await whep(site.http, f"{site.base}/whep/room2")
        assert (status, body["error"]) == (429, "address_full"), body
        assert "Retry-After" in headers
        assert metric("nal_webrtc_refused_total", kind="whep", reason="address_full") == before + 1
        async with other_address() as other:
            status, body, _ = await whep(other, f"{site.base}/whep/room2")
            assert status == 201, body


async def test_no_per_address_cap_behind_a_proxy(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    async with serve(max_viewers_per_address=0, max_viewers=5) as site:
        await go_live(site, h264_source, "room1", publishers)
        for _ in range(5):  # all from one address, as behind a proxy
            status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
            assert status == 201, body
        status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
        assert (status, body["error"]) == (503, "viewers_full")


async def test_a_session_that_never_connects_is_dropped(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    async with serve(connect_timeout_s=0.5) as site:
        await go_live(site, h264_source, "room1", publishers)
        before = metric("nal_webrtc_never_connected_total", kind="whep")
        status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
        assert status == 201, body
        assert site.webrtc.count("whep") == 1
        await wait_for(lambda: site.webrtc.count("whep") == 0, timeout=20)
        assert metric("nal_webrtc_never_connected_total", kind="whep") == before + 1
        assert site.webrtc.count("whip") == 1  # the publisher, connected, stays


async def test_wrong_whip_keys_are_throttled_per_address_and_room(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    async with serve() as site:
        publisher, offer = await Publisher.offer(h264_source)
        publishers.append(publisher)
        url = f"{site.base}/whip/room1"
        for _ in range(4):
            status, body, _ = await post_offer(site.http, url, offer, "wrong")
            assert (status, json.loads(body)["error"]) == (403, "bad_key")
        # The guesser's own right key for another room does not reset the count for room1.
        await go_live(site, h264_source, "room2", publishers)
        status, _, _ = await post_offer(site.http, url, offer, "wrong")
        assert status == 403
        before = metric("nal_webrtc_refused_total", kind="whip", reason="throttled")
        status, body, headers = await post_offer(site.http, url, offer, KEY)  # checked before the key
        assert status == 429
        assert json.loads(body)["error"] == "throttled"
        assert int(headers["Retry-After"]) > 0
        assert metric("nal_webrtc_refused_total", kind="whip", reason="throttled") == before + 1
        # Another address, and another room from the same address, are untouched.
        status, body, _ = await post_offer(site.http, f"{site.base}/whip/room3", offer, "wrong")
        assert status == 403, body
        async with other_address() as other:
            status, body, _ = await publisher.publish(other, site.base, "room1")
            assert status == 201, body
            assert site.hub.get("room1") is not None


async def test_whep_offers_wait_their_turn_to_negotiate_and_whip_has_its_own(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    """A burst of WHEP offers negotiates one at a time (the loop never holds all their aiortc
    work at once); the rest wait with their place in the pool taken, and a performer's WHIP
    offer is not queued behind them."""
    async with serve() as site:
        await go_live(site, h264_source, "room1", publishers)
        inside, peak = 0, 0
        negotiate = site.webrtc._negotiate

        async def counted(pc: Any, offer: str) -> str:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            try:
                return await negotiate(pc, offer)
            finally:
                inside -= 1

        site.webrtc._negotiate = counted  # type: ignore[method-assign]
        offers = [await dead_offer() for _ in range(3)]
        turn = site.webrtc._turns["whep"]
        async with turn:  # every WHEP negotiation waits while the test holds the turn
            posts = [asyncio.ensure_future(post_offer(site.http, f"{site.base}/whep/room1", o)) for o in offers]
            await wait_for(lambda: site.webrtc.count("whep") == 3, timeout=60)
            assert inside == 0  # all three hold their place in the pool, none negotiates yet
            await asyncio.wait_for(go_live(site, h264_source, "room2", publishers), 120)  # WHIP: its own turn
        results = await asyncio.wait_for(asyncio.gather(*posts), 120)
        assert [status for status, _, _ in results] == [201, 201, 201]
        assert peak == 1


async def test_viewer_sessions_carry_no_receive_bitrate_estimator(
    h264_source: Path, publishers: list[Publisher]
) -> None:
    """A WHEP session never receives media, so its video receiver drops aiortc's estimator
    (a 1000-bucket rate counter: most of a session's objects, for the collector to traverse)."""
    async with serve() as site:
        await go_live(site, h264_source, "room1", publishers)
        status, body, _ = await whep(site.http, f"{site.base}/whep/room1")
        assert status == 201, body
        session = next(s for s in site.webrtc._sessions.values() if s.kind == "whep")
        receivers = [t.receiver for t in session.pc.getTransceivers()]
        assert receivers and all(r._RTCRtpReceiver__remote_bitrate_estimator is None for r in receivers)
        publisher_session = next(s for s in site.webrtc._sessions.values() if s.kind == "whip")
        video = [t.receiver for t in publisher_session.pc.getTransceivers() if t.kind == "video"]
        assert all(r._RTCRtpReceiver__remote_bitrate_estimator is not None for r in video)
