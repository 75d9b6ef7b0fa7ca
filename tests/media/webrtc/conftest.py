from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from media.hub import Hub
from tests.media.webrtc.support import make_app, make_source


@pytest.fixture(scope="session")
def h264_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("media") / "h264_opus.ts", 12)


@pytest.fixture
async def webrtc_server() -> AsyncIterator[Any]:
    """(hub, base URL, HTTP client session) of an app with the hub and our WHIP/WHEP routes."""
    hub = Hub(reconnect_grace=2.0)
    server = TestServer(make_app(hub), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield hub, str(server.make_url("")).rstrip("/"), http
    await server.close()
    hub.close()


@pytest.fixture
async def rtmp_server(webrtc_server: Any) -> AsyncIterator[str]:
    """The RTMP ingest (media.rtmp + media.ingest) writing into the same hub; yields rtmp://.../live."""
    from media.ingest import HubIngest
    from media.rtmp.server import RtmpServer

    hub, _, _ = webrtc_server

    async def resolve_key(key: str) -> str | None:
        return key  # the tests publish with the room slug as the key

    server = RtmpServer(HubIngest(hub, resolve_key))
    await server.start("127.0.0.1", 0)
    yield f"rtmp://127.0.0.1:{server.port}/live"
    await server.close()
