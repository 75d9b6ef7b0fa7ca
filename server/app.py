"""The app factory: storage, services, routes."""

from __future__ import annotations

import logging

from aiohttp import web

from media.hls.http import HLS_SERVICE
from server import (
    api_accounts,
    api_analytics,
    api_bans,
    api_earnings,
    api_ledger,
    api_orders,
    api_payouts,
    api_publish,
    api_recordings,
    api_restreams,
    api_room_profile,
    api_rooms,
    api_sandbox,
    api_settlement,
    api_shows,
    api_splits,
    api_tips,
    api_viewing,
    health,
    httpguard,
    httputil,
    openapi,
    overlay,
    pages,
    sockets,
    webhooks,
)
from server import services as services_mod
from server.config import Settings
from server.httputil import error_middleware
from server.keys import ENGINE, READS, SERVICES, SETTINGS
from server.live import setup as setup_live

log = logging.getLogger("notalabel.app")


async def make_app(settings: Settings) -> web.Application:
    services = await services_mod.build(settings)
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[SERVICES] = services
    app[ENGINE] = services.engine
    app[READS] = services.store.reads
    for module in (httputil, httpguard, health, openapi, api_accounts, api_bans, api_rooms, api_room_profile, api_publish,
                   api_restreams, api_ledger, api_tips, api_sandbox, api_payouts, api_earnings, api_splits,
                   api_settlement, webhooks, api_shows, api_orders, api_viewing, api_recordings, api_analytics,
                   overlay, sockets, pages):
        module.setup(app)
    setup_live(app, services.live, services.access)
    services.whep_watch.webrtc = services.live.webrtc
    app.on_response_prepare.append(services.whep_watch.on_prepare)
    if services.analytics.enabled:
        services.analytics.attach(services.live.webrtc)
        app.on_response_prepare.append(services.analytics.on_prepare)
        app[HLS_SERVICE].on_playlist = services.analytics.hls_playlist
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop_intake)
    app.on_cleanup.append(_close)
    return app


async def _start(app: web.Application) -> None:
    # Everything but the RTMP listener, which `notalabel serve` starts once HTTP is up.
    await app[SERVICES].lifecycle.start(upto="relay")


async def _stop_intake(app: web.Application) -> None:
    await app[SERVICES].stop_intake()


async def _close(app: web.Application) -> None:
    await app[SERVICES].lifecycle.stop()
