"""WebRTC from any node (issue 14): ``notalabel serve`` processes on one Redis and one PostgreSQL.

ffmpeg publishes RTMP to node A; aiortc WHEP viewers on node B, which does not hold the
ingest, receive and decode video and audio through B's edge relay (media.webrtc.edge),
which pulls the room from A once (media.webrtc.pull): A's metrics show one pull however
many viewers B has, and the relay stops when B's last viewer leaves. The pull is for nodes
only, a gated room's viewing token is checked at the edge as at the origin, and an edge
viewer's wait for a keyframe reaches a WHIP publisher as a PLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from media.webrtc.taps import on_keyframe_request
from tests.conftest import REDIS_URL, pg_url
from tests.media.webrtc.rtmp_ingest import ffmpeg_publish, stop
from tests.media.webrtc.support import Publisher, Viewer, make_source, wait_for
from tests.server.test_cluster import account, pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import make_room
from tests.server.test_media_cluster import holder, http, metric, metric_sum, redis, until  # noqa: F401 - fixture

__all__ = ["http", "pg_schema", "redis"]


def cluster(server_process: Any, schema: str, prefix: str, count: int = 2, **settings: Any) -> list[Any]:
    common = {"database": pg_url(schema), "redis": REDIS_URL, "redis_prefix": prefix,
              "secret_key": "cluster secret " + prefix, "webrtc_host_addresses": "127.0.0.1", **settings}
    return [server_process(**common) for _ in range(count)]


async def live_with_audio(http: aiohttp.ClientSession, node: Any, slug: str) -> None:
    async def codecs() -> bool:
        async with http.get(f"{node.url}/api/rooms/{slug}/stream") as r:
            return bool((await r.json()).get("audio_codec"))
    await until(codecs, True, timeout=30)


async def leave(http: aiohttp.ClientSession, node: Any, viewer: Viewer) -> None:
    """What a WHEP player does when it stops: DELETE its session, then close."""
    async with http.delete(node.url + viewer.location) as r:
        assert r.status == 204
    await viewer.close()


async def test_whep_viewers_on_an_edge_share_one_pull_of_the_origin(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    redis: aioredis.Redis,  # noqa: F811
) -> None:
    a, b = cluster(server_process, pg_schema, redis_prefix)
    room = await make_room(http, a.url)
    ffmpeg = ffmpeg_publish(f"{a.rtmp_url}/{room.stream_key}", 120)
    viewers: list[Viewer] = []
    try:
        await live_with_audio(http, a, room.slug)
        for _ in range(2):
            viewer, status, body = await Viewer.watch(http, b.url, room.slug)
            viewers.append(viewer)
            assert status == 201, body
            assert viewer.location.startswith(f"/whep/{room.slug}/")
        await wait_for(lambda: all(v.video_frames >= 30 and v.audio_frames >= 30 for v in viewers), timeout=60)
        assert all(v.sizes == {(640, 360)} and v.audio_rates == {48000} for v in viewers)

        # The origin serves one pull for B's two viewers, and no WHEP session of its own.
        assert await metric(http, a, "nal_webrtc_edge_pulls") == 1
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="served") == 1
        assert await metric(http, a, r'nal_webrtc_sessions\{kind="whep"\}') == 0
        assert await metric(http, b, r'nal_webrtc_sessions\{kind="whep"\}') == 2
        assert await metric(http, b, "nal_webrtc_edge_relays") == 1
        # B relays the room; it does not hold it (its relays' hub is apart from its own).
        assert await holder(redis, redis_prefix, room.slug) == a.url

        # The relay stops with B's last viewer, and the origin's pull with it.
        await leave(http, b, viewers[0])
        assert await metric(http, b, "nal_webrtc_edge_relays") == 1
        await leave(http, b, viewers[1])
        await until(lambda: metric(http, b, "nal_webrtc_edge_relays"), 0)
        await until(lambda: metric(http, a, "nal_webrtc_edge_pulls"), 0)
        assert await metric_sum(http, b, "nal_webrtc_edge_relays_ended_total", result="stopped") == 1

        # A new viewer starts a new relay: a second pull, and it plays.
        viewer, status, body = await Viewer.watch(http, b.url, room.slug)
        viewers.append(viewer)
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 10, timeout=60)
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="served") == 2
    finally:
        for viewer in viewers:
            await viewer.close()
        stop(ffmpeg)


async def pull_status(http: aiohttp.ClientSession, node: Any, slug: str, authorization: str | None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    try:
        async with http.ws_connect(f"{node.url}/internal/edge/{slug}", headers=headers):
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def test_the_pull_is_for_nodes_the_edge_checks_viewing_tokens_and_plis_reach_the_publisher(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A gated show published over WHIP (a publisher that makes keyframes when asked)."""
    a, b = cluster(server_process, pg_schema, redis_prefix)
    owner = {"Authorization": f"Bearer {await account(http, a.url, 'owner')}"}
    room = await (await http.post(f"{a.url}/api/rooms", json={"title": "Gated"}, headers=owner)).json()
    slug = room["slug"]
    r = await http.post(f"{a.url}/api/rooms/{slug}/shows", headers=owner,
                        json={"title": "Live", "starts_at": "2030-01-01T20:00:00Z"})
    show_id = (await r.json())["id"]
    tokens = {}
    for fan, latency in (("front", "realtime"), ("back", "standard")):
        r = await http.post(f"{a.url}/api/shows/{show_id}/tiers", headers=owner,
                            json={"name": fan, "price": 1000, "latency_class": latency, "chat": False})
        tier_id = (await r.json())["id"]
        fan_auth = {"Authorization": f"Bearer {await account(http, a.url, fan)}"}
        r = await http.post(f"{a.url}/api/shows/{show_id}/comps", headers=owner,
                            json={"username": fan, "tier_id": tier_id})
        assert r.status == 201, await r.text()
        r = await http.post(f"{b.url}/api/shows/{show_id}/viewing-sessions", json={}, headers=fan_auth)
        assert r.status == 201, await r.text()
        tokens[latency] = (await r.json())["token"]
    publisher, _offer = await Publisher.offer(make_source(tmp_path / "show.ts", seconds=90))
    plis = [0]
    for sender in publisher.pc.getSenders():
        if sender.track is not None and sender.track.kind == "video":
            on_keyframe_request(sender, lambda: plis.__setitem__(0, plis[0] + 1))
    viewers: list[Viewer] = []
    try:
        status, body, _headers = await publisher.publish(http, a.url, slug, key=room["stream_key"])
        assert status == 201, body
        await live_with_audio(http, a, slug)
        # Only a node's credential opens a pull: none, a viewing token or a forgery is 401.
        assert await pull_status(http, a, slug, None) == 401
        assert await pull_status(http, a, slug, f"Bearer {tokens['realtime']}") == 401
        assert await pull_status(http, a, slug, "NAL-Edge 9999999999.00ff") == 401
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="missing") == 2
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="expired") == 1

        # The edge checks the viewing token as the origin does: realtime tiers only.
        denied = await metric_sum(http, b, "nal_viewing_denied_total", kind="whep")
        for token in (None, "forged", tokens["standard"]):
            viewer, status, _body = await Viewer.watch(http, b.url, slug, token=token)
            viewers.append(viewer)
            assert status == 403
        assert await metric_sum(http, b, "nal_viewing_denied_total", kind="whep") == denied + 3
        assert await metric(http, b, "nal_webrtc_edge_relays") == 0  # no relay for a refused viewer

        # The realtime viewer plays through the edge; its wait for a keyframe reached the
        # WHIP publisher as a PLI, through the pull.
        plis_before = plis[0]
        viewer, status, body = await Viewer.watch(http, b.url, slug, token=tokens["realtime"])
        viewers.append(viewer)
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 20 and viewer.audio_frames >= 20, timeout=60)
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="served") == 1
        assert await metric_sum(http, a, "nal_webrtc_edge_keyframe_requests_total", result="forwarded") >= 1
        assert plis[0] > plis_before
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
