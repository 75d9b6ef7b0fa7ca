"""An in-process server on SQLite with chosen settings, for tests that need a knob turned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.servers import free_port


async def sqlite_api(aiohttp_client: Any, tmp_path: Path, **overrides: Any) -> Any:
    from server.app import make_app
    from server.config import Settings

    settings = Settings(data_dir=str(tmp_path), http=f"127.0.0.1:{free_port()}", **overrides)
    return await aiohttp_client(await make_app(settings))
