"""Fixtures of the relay tests: the HTTP API with the restream routes, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.servers import free_port


@pytest.fixture
async def relay_api(aiohttp_client: Any, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    """An in-process server with the restream routes (added here until app.py wires them)."""
    from server import api_restreams
    from server.app import make_app
    from server.config import Settings

    settings = Settings(data_dir=str(tmp_path), database=database_url, http=f"127.0.0.1:{free_port()}")
    app = await make_app(settings)
    if api_restreams.TARGETS not in app:
        api_restreams.setup(app)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    yield client
