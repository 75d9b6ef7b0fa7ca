"""Typed keys for what the app object carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from media.hls.fastpath import LivePath

if TYPE_CHECKING:
    from server.config import Settings
    from server.services import Services

ENGINE = web.AppKey("engine", AsyncEngine)
READS = web.AppKey("reads", AsyncEngine)
"""``ENGINE``'s pool for one-statement reads outside a transaction (``server.db.reads``)."""
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
SERVICES: web.AppKey[Services] = web.AppKey("services")
LIVE_PATH = web.AppKey("live_path", LivePath)
"""The LL-HLS fast path (media.hls.fastpath), when ``--hls-fast-path`` is on: the guarded
listener serves ``/live/`` connections with it."""
