from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from media.hub import Hub
from media.webrtc.http import WEBRTC_KEY
from media.webrtc.session import WebRtc
from tests.media.webrtc.support import make_app, make_source


@pytest.fixture(scope="session")
def h264_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("media") / "h264_opus.ts", 12)


@dataclass
class Site:
    hub: Hub
    base: str
    http: aiohttp.ClientSession
    webrtc: WebRtc


@pytest.fixture
async def webrtc_site() -> AsyncIterator[Site]:
    """An app with the hub and our WHIP/WHEP routes: its hub, base URL, an HTTP client session
    and the process's :class:`WebRtc` (its sessions, publishers and shared payloads)."""
    hub = Hub(reconnect_grace=2.0)
    app = make_app(hub)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Site(hub, str(server.make_url("")).rstrip("/"), http, app[WEBRTC_KEY])
    await server.close()
    hub.close()


@pytest.fixture
async def webrtc_server(webrtc_site: Site) -> tuple[Hub, str, aiohttp.ClientSession]:
    """(hub, base URL, HTTP client session) of :func:`webrtc_site`."""
    return webrtc_site.hub, webrtc_site.base, webrtc_site.http


@pytest.fixture
async def rtmp_server(webrtc_server: Any) -> AsyncIterator[str]:
    """The RTMP ingest (media.rtmp + media.rtmp.to_hub) writing into the same hub; yields rtmp://.../live."""
    from media.rtmp.server import RtmpServer
    from media.rtmp.to_hub import HubIngest

    hub, _, _ = webrtc_server

    async def resolve_key(key: str) -> str | None:
        return key  # the tests publish with the room slug as the key

    server = RtmpServer(HubIngest(hub, resolve_key))
    await server.start("127.0.0.1", 0)
    yield f"rtmp://127.0.0.1:{server.port}/live"
    await server.close()
