"""An in-process server for page tests that publish room events through its gateway (as the
payments router does when a tip is paid), and Pages/HTTP fixtures bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser

from server.app import make_app
from server.config import Settings
from server.keys import SERVICES
from tests.support.servers import bound_socket


@dataclass
class InProcess:
    url: str
    app: web.Application

    async def publish(self, slug: str, type_: str, data: dict[str, Any], key: str | None = None) -> None:
        await self.app[SERVICES].gateway.publish_system(slug, type_, data, key)


@pytest.fixture
async def inproc(tmp_path: Path) -> AsyncIterator[InProcess]:
    sock = bound_socket()  # bound before the app learns its address: nothing can take it
    port = sock.getsockname()[1]
    settings = Settings(data_dir=str(tmp_path), database=f"sqlite:///{tmp_path / 'o.sqlite3'}",
                        http=f"127.0.0.1:{port}")
    app = await make_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield InProcess(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


@pytest.fixture
async def opages(browser: Browser, inproc: InProcess, shots: Path) -> AsyncIterator[Any]:
    from tests.static.conftest import Pages  # conftest imports this module

    opened = Pages(browser, inproc, shots)  # type: ignore[arg-type]  # only .url is used
    try:
        yield opened
        opened.check()
    finally:
        await opened.close()


@pytest.fixture
async def ohttp(inproc: InProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=inproc.url, cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session
