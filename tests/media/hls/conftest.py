"""Fixtures: encoded sources (cached per session) and an HLS server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from media.hls.http import setup_routes
from media.hls.segmenter import SegmenterConfig
from media.hub import Hub
from tests.media.hls.sources import Source, demux, encode

ROOMS = {"room", "other"}


@dataclass
class HlsServer:
    hub: Hub
    base: str

    def url(self, slug: str, name: str = "index.m3u8") -> str:
        return f"{self.base}/live/{slug}/{name}"


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hls-sources")


def _cached(directory: Path, name: str, **options: object) -> Source:
    path = directory / f"{name}.flv"
    if not path.exists():
        encode(path, **options)  # type: ignore[arg-type]
    return demux(path)


@pytest.fixture(scope="session")
def av_720p30(source_dir: Path) -> Source:
    return _cached(source_dir, "720p30", size="1280x720", rate=30, bframes=2)


@pytest.fixture(scope="session")
def make_source(source_dir: Path):  # type: ignore[no-untyped-def]
    def make(name: str, **options: object) -> Source:
        return _cached(source_dir, name, **options)

    return make


@pytest.fixture
async def hls_server() -> AsyncIterator[HlsServer]:
    hub = Hub(reconnect_grace=10.0)
    app = web.Application()

    async def room_exists(slug: str) -> bool:
        return slug in ROOMS

    setup_routes(app, hub, room_exists, config=SegmenterConfig(window=12))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield HlsServer(hub, f"http://127.0.0.1:{port}")
    finally:
        hub.close()
        await runner.cleanup()
