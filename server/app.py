"""The app factory: storage, runtime parts, routes."""

from __future__ import annotations

import logging

from aiohttp import web

from server import api_accounts, api_rooms, health, openapi, pages
from server.config import Settings
from server.db import make_engine, migrate
from server.httputil import error_middleware
from server.keys import ENGINE, RUNTIME, SETTINGS
from server.state import Runtime
from server.store import SqlStore

log = logging.getLogger("notalabel.app")


async def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    await migrate(engine, settings.database_url)
    return Runtime(settings=settings, engine=engine, store=SqlStore(engine))


async def make_app(settings: Settings) -> web.Application:
    runtime = await build_runtime(settings)
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[ENGINE] = runtime.engine
    for module in (health, openapi, api_accounts, api_rooms, pages):
        module.setup(app)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    runtime = app[RUNTIME]
    await runtime.engine.dispose()
