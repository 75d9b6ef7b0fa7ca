"""A media-only server for the WebRTC benchmarks: hub + RTMP ingest + LL-HLS + WHIP/WHEP.

The same composition ``notalabel serve`` makes, without accounts: every room exists and its
stream key is its slug. Run: ``python -m loadtest.webrtc_server --http 127.0.0.1:8090
--rtmp 127.0.0.1:1936`` (WebRTC candidates on 127.0.0.1 only).

Every such server serves edge pulls (media.webrtc.pull); with ``--origin URL`` it is an edge
of that server too: a WHEP viewer of a room its own hub does not hold is served by an edge
relay pulling the room from ``URL`` (media.webrtc.edge), as a node of a cluster does with the
room directory. The pull credential's key is :data:`EDGE_KEY`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time

from aiohttp import web

from media.hls import http as hls_http
from media.hub import Hub
from media.rtmp.server import RtmpServer
from media.rtmp.to_hub import HubIngest
from media.webrtc import gso, pull, session, whep, whip
from media.webrtc.config import WebRtcSettings
from media.webrtc.edge import EdgeRelays
from media.webrtc.session import WebRtc
from server import edgeauth

EDGE_KEY = edgeauth.derive(b"loadtest edge pulls")


def add_edges(app: web.Application, webrtc: WebRtc, origin: str) -> None:
    """Serve pulls to other servers; with an ``origin``, relay the rooms held there."""

    async def authorize(slug: str, request: web.Request) -> str | None:
        return edgeauth.refusal(EDGE_KEY, slug, request.headers.get("Authorization", ""), time.time())

    async def locate(slug: str) -> str | None:
        return origin or None

    def credential(slug: str) -> dict[str, str]:
        return {"Authorization": edgeauth.credential(EDGE_KEY, slug, time.time())}

    pull.setup_routes(app, webrtc, authorize)
    if origin:
        webrtc.edges = EdgeRelays(locate, credential)


async def serve(http: str, rtmp: str, origin: str = "") -> None:
    hub = Hub()
    settings = WebRtcSettings(host_addresses=("127.0.0.1",), max_viewers=2000,
                              max_viewers_per_address=2000, max_viewers_per_room=2000)
    app = web.Application()

    async def room_exists(slug: str) -> bool:
        return True

    async def authorize(slug: str, key: str) -> bool:
        return key == slug

    async def resolve_key(key: str) -> str | None:
        return key

    whip.setup_routes(app, hub, authorize, room_exists, settings=settings)
    add_edges(app, whep.setup_routes(app, hub, room_exists, settings=settings), origin)
    hls_http.setup_routes(app, hub, room_exists)
    runner = web.AppRunner(app)
    await runner.setup()
    host, port = http.rsplit(":", 1)
    await web.TCPSite(runner, host, int(port)).start()
    rtmp_server = RtmpServer(HubIngest(hub, resolve_key))
    rhost, rport = rtmp.rsplit(":", 1)
    await rtmp_server.start(rhost, int(rport))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await rtmp_server.close()
    with contextlib.suppress(Exception):
        await runner.cleanup()
    hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", default="127.0.0.1:8090")
    parser.add_argument("--rtmp", default="127.0.0.1:1936")
    parser.add_argument("--origin", default="", help="an edge of this server: relay the WHEP viewers of its rooms")
    args = parser.parse_args()
    if os.environ.get("NAL_BENCH_NO_GSO"):  # A/B of media.webrtc.gso: one sendto per packet
        gso.state.enabled = False
    if os.environ.get("NAL_BENCH_KEEP_REMB"):  # A/B of media.webrtc.feedback: aiortc handles REMB
        session.ignore_bitrate_feedback = lambda _pc: None
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.http, args.rtmp, args.origin))


if __name__ == "__main__":
    main()
