"""Operations endpoints: liveness, readiness, Prometheus metrics.

``/readyz`` answers 503 with a JSON ``reason`` when the database does not answer within
``readyz_timeout_s``, Redis (when configured) does not, or the data dir's disk has less than
``min_free_disk_mb`` free. ``/metrics`` needs ``Authorization: Bearer <metrics_token>`` when
that is set; with ``metrics_http`` it is served only by a listener of its own
(:func:`start_metrics_listener`), not by the main one.
"""

from __future__ import annotations

import asyncio
import hmac
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from server.config import Settings, parse_hostport
from server.errors import Unauthorized
from server.httputil import REFUSED, error_middleware, json_response
from server.keys import SERVICES, SETTINGS

MIB = 1024 * 1024
_METRICS_SETTINGS: web.AppKey[Settings] = web.AppKey("metrics_settings")


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _check(probe: Callable[[], Awaitable[Any]], timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout):
            await probe()
    except TimeoutError:
        return f"error: no answer in {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"error: {type(exc).__name__}"
    return "ok"


def disk_check(data_dir: str, min_free_mb: int) -> str:
    """``ok``, or why the data dir's disk is too full (or cannot be read)."""
    try:
        free_mb = shutil.disk_usage(data_dir).free // MIB
    except OSError as exc:
        return f"error: {type(exc).__name__}"
    if free_mb < min_free_mb:
        return f"error: {free_mb} MiB free, below {min_free_mb} MiB"
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = request.app[SETTINGS]
    if services.draining:
        return json_response({"status": "draining", "reason": "draining"}, status=503)

    async def database() -> None:
        async with services.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    checks = {"database": await _check(database, settings.readyz_timeout_s),
              "disk": disk_check(settings.data_dir, settings.min_free_disk_mb)}
    if services.redis is not None:
        checks["redis"] = await _check(services.redis.ping, settings.readyz_timeout_s)
    failing = {name: value for name, value in checks.items() if value != "ok"}
    if not failing:
        return json_response({"status": "ok", "checks": checks})
    reason = "; ".join(f"{name} {value}" for name, value in failing.items())
    return json_response({"status": "unavailable", "reason": reason, "checks": checks}, status=503)


async def metrics(request: web.Request) -> web.Response:
    token = request.app[_METRICS_SETTINGS].metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            REFUSED.labels("metrics_auth").inc()
            raise Unauthorized("/metrics needs Authorization: Bearer <metrics token>", "metrics_auth")
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[_METRICS_SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if not settings.metrics_http:
        app.router.add_get("/metrics", metrics)


async def start_metrics_listener(settings: Settings) -> web.AppRunner | None:
    """With ``metrics_http`` set, serve ``/metrics`` (and nothing else) there; else nothing."""
    if not settings.metrics_http:
        return None
    app = web.Application(middlewares=[error_middleware])
    app[_METRICS_SETTINGS] = settings
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    host, port = parse_hostport(settings.metrics_http)
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner
