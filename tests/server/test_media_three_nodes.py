"""Issue 14, Done means: three ``notalabel serve`` processes on one Redis and one PostgreSQL.

ffmpeg publishes RTMP to node A; ffprobe reads LL-HLS from B and C (media.hls.edge); aiortc
WHEP viewers on A, B and C decode video (B and C through their edge relays,
media.webrtc.edge); a fan's socket on C sees the stream go live and offline. Killing B
(SIGKILL) leaves the viewers on A and C playing, and B's viewer reconnects to C and plays
again, through the relay C already runs: the origin serves one pull per edge node left.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.media.webrtc.rtmp_ingest import ffmpeg_publish, stop
from tests.media.webrtc.support import Viewer, wait_for
from tests.server.test_cluster import pg_schema  # noqa: F401 - fixture
from tests.server.test_live_media import check_packets, ffprobe, make_room, wait_for_playlist
from tests.server.test_media_cluster import http, metric, metric_sum, until  # noqa: F401 - fixture
from tests.server.test_webrtc_edge import cluster, live_with_audio
from tests.support.roomsocket import RoomSocket

__all__ = ["http", "pg_schema"]


def states(fan: RoomSocket) -> list[str]:
    return [e["data"]["state"] for e in fan.of_type("stream.state")]


async def probe_ll_hls(url: str) -> None:
    result = await ffprobe(url)
    kinds = {stream["codec_type"]: stream for stream in result["streams"]}
    assert set(kinds) == {"video", "audio"}, url
    for stream in kinds.values():
        check_packets(result, stream)


async def test_three_nodes_serve_a_show_and_one_dies(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession,  # noqa: F811
) -> None:
    a, b, c = cluster(server_process, pg_schema, redis_prefix, count=3, reconnect_grace_s=2)
    room = await make_room(http, a.url)
    fan = await RoomSocket.connect(http, c.ws_url, room.slug)
    ffmpeg = ffmpeg_publish(f"{a.rtmp_url}/{room.stream_key}", 180)
    viewers: dict[str, Viewer] = {}
    try:
        await live_with_audio(http, a, room.slug)
        await fan.wait_for(lambda: "live" in states(fan), timeout=30)
        await wait_for_playlist(http, f"{a.url}/live/{room.slug}/index.m3u8", segments=3)
        await asyncio.gather(*(probe_ll_hls(f"{node.url}/live/{room.slug}/index.m3u8") for node in (b, c)))

        for name, node in (("a", a), ("b", b), ("c", c)):
            viewer, status, body = await Viewer.watch(http, node.url, room.slug)
            viewers[name] = viewer
            assert status == 201, (name, body)
        await wait_for(lambda: all(v.video_frames >= 30 for v in viewers.values()), timeout=60)
        assert await metric(http, a, "nal_webrtc_edge_pulls") == 2  # one per edge node

        # B dies. A's and C's viewers play on: their frame counts keep rising, their peers stay up.
        b.proc.kill()
        b.proc.wait(10)
        await until(lambda: metric(http, a, "nal_webrtc_edge_pulls"), 1, timeout=30)
        seen = {name: viewers[name].video_frames for name in ("a", "c")}
        await wait_for(lambda: all(viewers[n].video_frames >= seen[n] + 60 for n in seen), timeout=60)
        assert all(viewers[n].pc.connectionState == "connected" for n in seen)

        # B's viewer reconnects to another node, C, and plays from the relay C already runs.
        await viewers.pop("b").close()
        viewer, status, body = await Viewer.watch(http, c.url, room.slug)
        viewers["b again"] = viewer
        assert status == 201, body
        await wait_for(lambda: viewer.video_frames >= 30, timeout=60)
        assert await metric(http, a, "nal_webrtc_edge_pulls") == 1
        assert await metric_sum(http, a, "nal_webrtc_edge_pull_requests_total", result="served") == 2
        assert await metric(http, c, "nal_webrtc_edge_relays") == 1

        # The show ends: the fan on C hears it go offline.
        stop(ffmpeg)
        await fan.wait_for(lambda: "offline" in states(fan), timeout=30)
    finally:
        for viewer in viewers.values():
            await viewer.close()
        stop(ffmpeg)
        await fan.close()
