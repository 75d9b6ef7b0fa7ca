"""Typed keys for what the app object carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from server.config import Settings
    from server.state import Runtime

ENGINE = web.AppKey("engine", AsyncEngine)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
EXTRA: web.AppKey[dict[str, Any]] = web.AppKey("extra")
