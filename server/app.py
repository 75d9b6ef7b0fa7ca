"""The app factory: storage, runtime parts, routes."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from aiohttp import web

from server import (
    api_accounts,
    api_ledger,
    api_restreams,
    api_rooms,
    health,
    httpguard,
    httputil,
    openapi,
    overlay,
    pages,
    sockets,
)
from server.config import Settings
from server.db import make_engine, migrate
from server.httputil import error_middleware
from server.keys import ENGINE, RUNTIME, SETTINGS
from server.live import Live
from server.live import setup as setup_live
from server.state import Runtime
from server.store import SqlStore

log = logging.getLogger("notalabel.app")


async def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    await migrate(engine, settings.database_url)
    store = SqlStore(engine)
    runtime = Runtime(settings=settings, engine=engine, store=store)
    runtime.bus = sockets.make_bus(settings)
    if settings.redis:
        runtime.redis = aioredis.from_url(settings.redis, socket_timeout=2)
    runtime.live = Live(runtime)
    runtime.gateway = sockets.make_gateway(settings, runtime.bus, store, streams=runtime.live)
    runtime.hub = runtime.live.hub
    # RTMP listens only in `serve` (not in in-process test apps): started after HTTP is up.
    runtime.extra.setdefault("on_started", []).append(runtime.live.start_rtmp)
    runtime.extra.setdefault("on_draining", []).append(runtime.live.stop_rtmp)
    return runtime


async def make_app(settings: Settings) -> web.Application:
    runtime = await build_runtime(settings)
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[ENGINE] = runtime.engine
    for module in (httputil, httpguard, health, openapi, api_accounts, api_rooms, api_restreams, api_ledger,
                   overlay, sockets, pages):
        module.setup(app)
    setup_live(app, runtime.live)
    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    return app


async def _start(app: web.Application) -> None:
    runtime = app[RUNTIME]
    await runtime.bus.start()
    await runtime.gateway.start()


async def _close(app: web.Application) -> None:
    runtime = app[RUNTIME]
    await runtime.gateway.close(code=1012)
    await runtime.bus.close()
    if runtime.redis is not None:
        await runtime.redis.aclose()
    await runtime.engine.dispose()
