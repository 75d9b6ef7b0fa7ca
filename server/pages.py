"""The web pages: plain HTML and ES modules from static/, no build step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGES = {"/": "index.html", "/watch/{slug}": "watch.html", "/studio/{slug}": "studio.html",
         "/moderate/{slug}": "moderate.html", "/earnings": "earnings.html", "/replay/{show_id}": "replay.html"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                               "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_request: web.Request) -> web.StreamResponse:
        path = STATIC / name
        if not path.exists():
            raise web.HTTPNotFound(text="page not built yet")
        return web.FileResponse(path, headers=SECURITY_HEADERS)

    return handler


def setup(app: web.Application) -> None:
    for route, name in PAGES.items():
        app.router.add_get(route, _page(name))
    app.router.add_static("/static/", STATIC, append_version=False)
