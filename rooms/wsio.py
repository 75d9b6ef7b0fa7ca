"""The one place rooms touches aiohttp's WebSocket internals (STYLE.md, habit 14).

fanout.py writes whole, already-framed WebSocket frames straight to a socket's transport.
That is right only when it is the transport aiohttp's ``WebSocketWriter`` writes to and that
writer does not compress (room sockets never negotiate permessage-deflate).
:func:`frame_transport` finds that transport through ``WebSocketResponse._writer`` and
``WebSocketWriter.transport``/``compress``.

:func:`detach` takes a joined socket's connection away from aiohttp (wsconn.py serves it
from then on): it reads what ``WebSocketResponse`` holds (its heartbeat's next time, the
messages its reader parsed already), stops its heartbeat and marks it closed, points the
transport at the new protocol, cuts the link of the protocol that wrapped aiohttp's
``RequestHandler`` (ours expose it as ``inner``), and tells that handler the connection is
lost with its transport unset first, so it lets go without closing anything. The frames are
then parsed by aiohttp's pure-Python ``WebSocketReader``, which takes any queue.

:func:`check_aiohttp_ws` fails loudly, naming what is missing, when aiohttp changed any of
that shape. The server runs the check at start-up and the tests run it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp._websocket.reader_py import WebSocketReader as PyWebSocketReader
from aiohttp.http_websocket import WebSocketWriter

from rooms.wsconn import RoomConnection


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
    for name in (
        "_heartbeat_when",
        "_heartbeat_cb",
        "_need_heartbeat_reset",
        "_closed",
        "_reader",
        "_parser",
        "_cancel_heartbeat",
    ):
        if not hasattr(web.WebSocketResponse, name):
            raise _problem(f"WebSocketResponse.{name}")
    if "_buffer" not in dir(WebSocketDataQueue):
        raise _problem("WebSocketDataQueue._buffer")
    handler_lost = web.RequestHandler.connection_lost.__code__.co_names
    if (
        "force_close" not in handler_lost
        or "transport" not in web.RequestHandler.force_close.__code__.co_names
    ):
        raise _problem("RequestHandler.connection_lost -> force_close() -> transport")
    reader = inspect.signature(PyWebSocketReader)
    if list(reader.parameters)[:4] != ["queue", "max_msg_size", "compress", "decode_text"]:
        raise _problem(
            "aiohttp._websocket.reader_py.WebSocketReader(queue, max_msg_size, compress, decode_text)"
        )
    assigned = WebSocketWriter.__init__.__code__.co_names
    for name in ("transport", "compress"):
        if name not in assigned:
            raise _problem(f"WebSocketWriter.{name}")


def detach(
    request: web.Request,
    ws: web.WebSocketResponse,
    make: Callable[[asyncio.Transport, Any, float], RoomConnection],
) -> RoomConnection:
    """Take a prepared socket's connection from aiohttp and give it to ``make(transport,
    outer_protocol, heartbeat_when)``'s connection: aiohttp's heartbeat is stopped (the
    connection goes on with it from where it was), the response marked closed (aiohttp's
    ``write_eof`` after the handler sends nothing), and the ``RequestHandler`` told that the
    connection is gone with its transport unset first, so it forgets the connection without
    closing it and its task ends. Messages aiohttp parsed already are handed over."""
    transport = frame_transport(ws)
    any_ws: Any = ws
    handler: Any = request.protocol
    queued = list(any_ws._reader._buffer) if any_ws._reader is not None else []
    when = any_ws._heartbeat_when if any_ws._heartbeat_cb is not None else 0.0
    reset = bool(any_ws._need_heartbeat_reset)
    any_ws._cancel_heartbeat()
    any_ws._closed = True
    conn = make(transport, _unlinked(transport.get_protocol(), handler), when)
    transport.set_protocol(conn)  # type: ignore[arg-type]
    handler.transport = None
    handler._data_received_cb = None
    handler.connection_lost(None)
    any_ws._reader = any_ws._parser = None
    if reset:
        conn.data_received(b"")
    for msg, size in queued:
        conn.feed_data(msg, size)
    return conn


_GONE = asyncio.Protocol()
"""Where a wrapper's link to a detached aiohttp handler points: every callback does nothing."""


def _unlinked(outer: Any, handler: Any) -> Any:
    """The transport's protocol, to be told when the connection is lost: None when it was
    aiohttp's handler itself, else the wrapper around it (our connection guard, the LL-HLS
    fast path: each names what it wraps ``inner``), its link to the handler cut so that
    nothing keeps the handler, the request or the response."""
    if outer is handler:
        return None
    link = outer
    while getattr(link, "inner", None) is not handler:
        link = getattr(link, "inner", None)
        if link is None:
            raise _problem("a wrapping protocol's inner link to aiohttp's RequestHandler")
    link.inner = _GONE
    return outer


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
