"""``notalabel``: the command line.

    notalabel serve [flags]     run the server (flags and NOTALABEL_* variables: --help)
    notalabel ledger ...        ledger checks and statements
    notalabel payouts run|status  settlement: pay out what each party's earnings allow
    notalabel recordings export SHOW_ID --out FILE   one MP4 of a show's recording
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import signal
import sys

from aiohttp import web

from server import config
from server.db import DatabaseURLError
from server.keys import SERVICES

log = logging.getLogger("notalabel")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notalabel", description="Not a Label Live server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    config.add_arguments(serve)
    if importlib.util.find_spec("server.ledger_cli") is not None:
        importlib.import_module("server.ledger_cli").add_parser(sub)
    importlib.import_module("server.payouts_cli").add_parser(sub)
    importlib.import_module("server.recordings_cli").add_parser(sub)
    return parser


def metrics_url(settings: config.Settings) -> str:
    if settings.metrics_http:
        host, port = config.parse_hostport(settings.metrics_http)
        return f"http://{host}:{port}/metrics"
    return f"{settings.base_url}/metrics"


def banner(settings: config.Settings) -> str:
    base = settings.base_url
    return "\n".join([
        "",
        "  Not a Label Live is running.",
        f"    Rooms and sign-up:   {base}/",
        f"    API description:     {base}/api/openapi.json",
        f"    Metrics:             {metrics_url(settings)}",
        "",
        f"  Sign up at {base}/, create a room and open its Studio ({base}/studio/<room>):",
        "  go live from the browser there, or from OBS (Settings > Stream > Service: Custom):",
        f"    Server:      {settings.rtmp_url}",
        "    Stream Key:  shown once when you create the room (rotate it in the studio for a new one)",
        f"  Database: {settings.database_url.split('@')[-1]}   Event bus: {'redis' if settings.redis else 'in-process'}",
        f"  Payments: {settings.payments}" + (" (test payments only)" if settings.payments == "sandbox" else ""),
        "",
    ])


async def serve(settings: config.Settings) -> int:
    from server import health, heap, httpguard, shapes
    from server.app import make_app

    app = await make_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=settings.http_keepalive_s)
    await runner.setup()
    shapes.check_libraries(runner)
    site = httpguard.GuardedSite(runner, settings)
    await site.start()
    metrics_runner = await health.start_metrics_listener(settings)
    services = app[SERVICES]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await services.lifecycle.start()
    heap.settle()  # after start-up, before the first request: see server.heap
    print(banner(settings), file=sys.stderr, flush=True)
    log.info("serving", extra={"http": settings.http, "rtmp": settings.rtmp})
    await stop.wait()
    await drain(runner, site, app, settings)
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    return 0


async def drain(runner: web.AppRunner, site: web.TCPSite, app: web.Application, settings: config.Settings) -> None:
    """Stop accepting, ask sockets to reconnect elsewhere (1012), finish writes, exit."""
    services = app[SERVICES]
    services.draining = True
    log.info("draining")
    await site.stop()
    await services.stop_intake()
    await asyncio.wait_for(runner.cleanup(), timeout=settings.drain_s)
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        settings = config.load(args)
        from server.logs import configure

        configure(settings.log_level, settings.log_format)
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
            run = asyncio.run
        else:
            run = uvloop.run
        try:
            return run(serve(settings))
        except DatabaseURLError as exc:  # a setting, not a crash: say what is wrong, no traceback
            print(f"notalabel serve: {exc}", file=sys.stderr)
            return 2
    if args.command == "payouts":
        return int(importlib.import_module("server.payouts_cli").run(args))
    if args.command == "recordings":
        return int(importlib.import_module("server.recordings_cli").run(args))
    if args.command == "ledger":
        return int(importlib.import_module("server.ledger_cli").run(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
