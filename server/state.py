"""The running server's parts, held in one place for the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import Settings
from server.store import SqlStore


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    store: SqlStore
    draining: bool = False
    gateway: Any = None
    bus: Any = None
    hub: Any = None
    live: Any = None
    redis: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def room_changed(self, slug: str) -> None:
        """Hosts or settings changed over HTTP: every node reloads the room."""
        if self.gateway is not None:
            await self.gateway.room_changed(slug)
