"""The one place rooms touches aiohttp's WebSocket internals (STYLE.md, habit 14).

fanout.py writes whole, already-framed WebSocket frames straight to a socket's transport,
beside aiohttp's own writes (pings, the close frame). That is right only when it is the
transport aiohttp's ``WebSocketWriter`` writes to and that writer does not compress (room
sockets never negotiate permessage-deflate). :func:`frame_transport` finds that transport
through ``WebSocketResponse._writer`` and ``WebSocketWriter.transport``/``compress``;
:func:`check_aiohttp_ws` fails loudly, naming what is missing, when aiohttp changed that
shape. The server runs the check at start-up and the tests run it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_websocket import WebSocketWriter


class AiohttpWsShapeChanged(RuntimeError):
    """aiohttp's WebSocket writer no longer looks the way fanout.py needs."""


def _problem(what: str) -> AiohttpWsShapeChanged:
    return AiohttpWsShapeChanged(
        f"aiohttp {aiohttp.__version__} changed shape, update rooms/wsio.py; missing: {what}"
    )


def check_aiohttp_ws() -> None:
    """Raise ``AiohttpWsShapeChanged`` if aiohttp no longer has the internals used here."""
    post_start = getattr(web.WebSocketResponse, "_post_start", None)
    if post_start is None or "_writer" not in post_start.__code__.co_names:
        raise _problem("WebSocketResponse._writer (set in _post_start)")
    assigned = WebSocketWriter.__init__.__code__.co_names
    for name in ("transport", "compress"):
        if name not in assigned:
            raise _problem(f"WebSocketWriter.{name}")


def frame_transport(ws: web.WebSocketResponse) -> asyncio.Transport:
    """The transport a prepared, uncompressed socket's frames go to."""
    writer: Any = getattr(ws, "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is None:
        raise _problem("WebSocketResponse._writer.transport")
    if getattr(writer, "compress", 0):
        raise ValueError("frames are written as they are: the socket must not compress")
    result: asyncio.Transport = transport
    return result
