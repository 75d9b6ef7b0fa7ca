"""A media-only server for the WebRTC benchmarks: hub + RTMP ingest + LL-HLS + WHIP/WHEP.

The same composition ``notalabel serve`` makes, without accounts: every room exists and its
stream key is its slug. Run: ``python -m loadtest.webrtc_server --http 127.0.0.1:8090
--rtmp 127.0.0.1:1936`` (WebRTC candidates on 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

from media.hls import http as hls_http
from media.hub import Hub
from media.rtmp.server import RtmpServer
from media.rtmp.to_hub import HubIngest
from media.webrtc import whep, whip
from media.webrtc.config import WebRtcSettings


async def serve(http: str, rtmp: str) -> None:
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
    whep.setup_routes(app, hub, room_exists, settings=settings)
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
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.http, args.rtmp))


if __name__ == "__main__":
    main()
