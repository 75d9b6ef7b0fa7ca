"""The web pages: plain HTML and ES modules from static/, no build step.

Framing: no page may be shown inside another site's frame (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``: a framed studio or moderate page could be clickjacked), except the
player ``/embed/{slug}``, made for that, which holds no control beyond chat and allows the
sources of ``--embed-ancestors`` (default ``*``: any site).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from server.keys import SETTINGS

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGES = {"/": "index.html", "/watch/{slug}": "watch.html", "/studio/{slug}": "studio.html",
         "/studio/{slug}/shows/{show_id}": "show.html",
         "/moderate/{slug}": "moderate.html", "/earnings": "earnings.html", "/replay/{show_id}": "replay.html",
         "/embed/{slug}": "embed.html", "/invite/{token}": "invite.html"}
FRAMEABLE = frozenset({"/embed/{slug}"})
NOBODY = "'none'"
CSP = ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def embed_headers(ancestors: str) -> dict[str, str]:
    """The player's headers: framed by ``ancestors`` (CSP sources; empty: nobody), no
    X-Frame-Options. A value that could end the directive (``;``, ``,``, a line break) is
    refused at start-up rather than sent."""
    if any(c in ancestors for c in ";,\r\n"):
        raise ValueError(f"--embed-ancestors takes CSP sources separated by spaces, not {ancestors!r}")
    headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "X-Frame-Options"}
    headers["Content-Security-Policy"] = f"{CSP}; frame-ancestors {ancestors.strip() or NOBODY}"
    return headers


def _page(name: str, headers: dict[str, str]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_request: web.Request) -> web.StreamResponse:
        path = STATIC / name
        if not path.exists():
            raise web.HTTPNotFound(text="page not built yet")
        return web.FileResponse(path, headers=headers)

    return handler


def setup(app: web.Application) -> None:
    embed = embed_headers(app[SETTINGS].embed_ancestors)
    for route, name in PAGES.items():
        app.router.add_get(route, _page(name, embed if route in FRAMEABLE else SECURITY_HEADERS))
    app.router.add_static("/static/", STATIC, append_version=False)
