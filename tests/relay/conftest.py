"""Fixtures of the relay tests: the HTTP API with the restream routes, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.servers import free_port

Client = TestClient[Any, Any]


@pytest.fixture
async def relay_api_with(aiohttp_client: Any, database_url: str,
                         tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """``await relay_api_with(**settings)``: an in-process server with the restream routes."""
    from server import api_restreams
    from server.app import make_app
    from server.config import Settings

    async def start(**settings: Any) -> Client:
        values: dict[str, Any] = {"data_dir": str(tmp_path), "database": database_url,
                                  "http": f"127.0.0.1:{free_port()}", **settings}
        app = await make_app(Settings(**values))
        if api_restreams.TARGETS not in app:
            api_restreams.setup(app)
        client: Client = await aiohttp_client(app)
        return client

    yield start


@pytest.fixture
async def relay_api(relay_api_with: Callable[..., Awaitable[Client]]) -> Client:
    """The restream API with the default settings (private destinations refused)."""
    return await relay_api_with()
