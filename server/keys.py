"""Typed keys for what the app object carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from server.config import Settings
    from server.services import Services

ENGINE = web.AppKey("engine", AsyncEngine)
READS = web.AppKey("reads", AsyncEngine)
"""``ENGINE``'s pool for one-statement reads outside a transaction (``server.db.reads``)."""
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
SERVICES: web.AppKey[Services] = web.AppKey("services")
