"""HTTP connection guard: connection caps and request head and body deadlines.

aiohttp has a knob for the idle keep-alive time (``keepalive_timeout``, our
``http_keepalive_s``) but none for these, so this module adds them:

- **caps**: at most ``http_conns_per_address`` open connections per peer address (an IPv6
  peer counts per /64, what one subscriber usually holds) and ``http_max_connections`` in all.
  A connection over a cap is answered at once, before it sends anything, with a JSON 429
  (per address) or 503 (in all) and closed. Behind a proxy every connection comes from the
  proxy, so the per-address cap belongs there (``0`` turns ours off).
- **head deadline**: a request head (request line and headers) must be complete within
  ``http_header_timeout_s`` of the connection opening, or of the first byte that follows the
  previous request. Otherwise the client gets a JSON 408 and the connection is closed. The
  head counts as complete when its blank line (``CRLF CRLF``) has arrived, found by a scan
  of each chunk (linear), so a server too busy to start the handler in time never cuts a
  client that sent its head in time.
- **body deadline**: once the head is in, the body must be complete within
  ``http_body_timeout_s``; a handler still waiting for it then fails with :class:`BodyTimeout`,
  answered as a JSON 408 (the connection closes, the body being unfinished).

This is the one module that touches aiohttp's insides: :class:`GuardedSite` is a
``web.TCPSite`` whose listener wraps each protocol that ``runner.server()`` makes (aiohttp's
``RequestHandler``) in a :class:`GuardProtocol` that forwards every callback. The request
middleware tells the wrapper when a request starts and ends (``request.transport`` is the
wrapped transport, whose ``get_protocol()`` is the wrapper). :func:`check_aiohttp` checks the
shape this relies on at start-up and fails loudly when an aiohttp upgrade changed it.

Known limit: a client that pipelines a complete next request while a long answer is still
being written can be cut after ``http_header_timeout_s``; browsers and players do not pipeline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable
from typing import Any, cast

import aiohttp
from aiohttp import web
from prometheus_client import Gauge

from media.hls.fastpath import LivePath
from server.config import Settings
from server.errors import ApiError
from server.httputil import REFUSED
from server.keys import LIVE_PATH, SETTINGS

OPEN_CONNECTIONS = Gauge("nal_http_connections", "Open HTTP connections on the guarded listener")


class AiohttpShapeChanged(RuntimeError):
    """aiohttp no longer looks the way this module needs (see :func:`check_aiohttp`)."""


class BodyTimeout(TimeoutError):
    """The request body did not arrive within ``http_body_timeout_s``.

    A ``TimeoutError``, so aiohttp's lingering read after the answer stops on it quietly.
    """


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


def address_key(host: str) -> str:
    """The key a peer's connections are counted under: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class ConnectionCaps:
    """Open connections per address and in all; Sans-I/O bookkeeping (0 means no cap)."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self.open: dict[str, int] = {}
        self.count = 0

    def admit(self, key: str) -> str | None:
        """Count a new connection from ``key``; or the refusal reason, counting nothing."""
        if self.total and self.count >= self.total:
            return "http_connections_total"
        if self.per_address and self.open.get(key, 0) >= self.per_address:
            return "http_connections_per_address"
        self.open[key] = self.open.get(key, 0) + 1
        self.count += 1
        return None

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)
        self.count = max(0, self.count - 1)


def _answer(status: int, reason: str, code: str, message: str, retry_after: int | None = None) -> bytes:
    body = json.dumps({"error": code, "message": message}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_REFUSALS = {
    "http_connections_per_address": _answer(
        429, "Too Many Requests", "too_many_connections", "too many open connections from your address", 5),
    "http_connections_total": _answer(
        503, "Service Unavailable", "server_full", "the server holds as many connections as it can", 5),
}
_HEAD_TIMEOUT = _answer(408, "Request Timeout", "request_timeout", "the request head took too long")


class GuardProtocol(asyncio.Protocol):
    """Wraps one aiohttp protocol: counts the connection, times the request head, forwards the rest."""

    def __init__(self, guard: ConnectionGuard, make_inner: Callable[[], asyncio.Protocol]) -> None:
        self.guard = guard
        self._make_inner = make_inner
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.key = ""
        self._in_request = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_in = False  # the current request's head has arrived whole (its blank line seen)
        self._tail = b""  # the last bytes of a head still arriving, for a blank line split across chunks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self.key = address_key(str(peer[0])) if isinstance(peer, tuple) and peer else ""
        refused = self.guard.caps.admit(self.key)
        if refused is not None:
            REFUSED.labels(refused).inc()
            transport.write(_REFUSALS[refused])
            transport.close()
            return
        OPEN_CONNECTIONS.inc()
        self.transport = transport
        live = self.guard.live_path
        if live is not None:
            self.inner = live.protocol(self._make_inner, started=self.request_started, finished=self.request_finished)
        else:
            self.inner = self._make_inner()
        self.inner.connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if not self._in_request and not self._head_in:
            seen = self._tail + data if self._tail else data
            if b"\r\n\r\n" in seen:  # the whole head at once (a player's usual): no timer to arm
                self._head_in, self._tail = True, b""
                self._cancel_head_timer()
            else:
                if self._head_timer is None:
                    self._arm_head_timer()
                self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is None:
            return
        self._cancel_head_timer()
        self.guard.caps.release(self.key)
        OPEN_CONNECTIONS.dec()
        inner, self.inner, self.transport = self.inner, None, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    # -- told by the middleware --------------------------------------------------------

    def request_started(self) -> None:
        self._in_request = True
        self._cancel_head_timer()

    def request_finished(self) -> None:
        self._in_request = False
        self._head_in, self._tail = False, b""

    # -- the head deadline ---------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        timeout = self.guard.settings.http_header_timeout_s
        if timeout > 0:
            self._head_timer = asyncio.get_running_loop().call_later(timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_request or self.transport is None:
            return
        REFUSED.labels("http_header_timeout").inc()
        self.transport.write(_HEAD_TIMEOUT)
        self.transport.close()


class ConnectionGuard:
    """What all the connections of one listener share: the settings and the caps."""

    def __init__(self, settings: Settings, live_path: LivePath | None = None) -> None:
        self.settings = settings
        self.live_path = live_path
        """LL-HLS's fast path: each connection starts on it (media.hls.fastpath)."""
        self.caps = ConnectionCaps(settings.http_conns_per_address, settings.http_max_connections)


class GuardedSite(web.TCPSite):
    """A ``web.TCPSite`` whose connections are each wrapped in a :class:`GuardProtocol`."""

    def __init__(self, runner: web.BaseRunner, settings: Settings) -> None:
        host, port = settings.http_bind
        super().__init__(runner, host, port, reuse_address=True)
        app = runner.app if isinstance(runner, web.AppRunner) else None
        self.guard = ConnectionGuard(settings, app.get(LIVE_PATH) if app is not None else None)

    async def start(self) -> None:
        await web.BaseSite.start(self)  # register with the runner; the listening is ours
        make_inner = self._runner.server
        assert make_inner is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GuardProtocol(self.guard, make_inner), self._host, self._port,
            backlog=self._backlog, reuse_address=True)
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


def check_aiohttp(runner: web.BaseRunner) -> None:
    """Fail loudly when aiohttp no longer has the shape :class:`GuardedSite` relies on."""
    problems: list[str] = []
    slots = set(getattr(web.BaseSite, "__slots__", ())) | set(getattr(web.TCPSite, "__slots__", ()))
    for name in ("_runner", "_server", "_backlog", "_host", "_port", "_bound_port"):
        if name not in slots:
            problems.append(f"web.TCPSite has no {name}")
    server = runner.server
    if not isinstance(server, web.Server) or not callable(server):
        problems.append("runner.server is not a web.Server protocol factory")
    else:
        proto = server()
        if not isinstance(proto, asyncio.Protocol):
            problems.append(f"runner.server() made {type(proto).__name__}, not an asyncio.Protocol")
        for name in ("connection_made", "data_received", "eof_received", "connection_lost",
                     "pause_writing", "resume_writing"):
            if not callable(getattr(proto, name, None)):
                problems.append(f"{type(proto).__name__} has no {name}()")
    for cls, name in ((aiohttp.StreamReader, "set_exception"), (aiohttp.StreamReader, "is_eof"),
                      (web.BaseRequest, "transport")):
        if not hasattr(cls, name):
            problems.append(f"{cls.__name__} has no {name}")
    if problems:
        raise AiohttpShapeChanged(
            f"aiohttp {aiohttp.__version__} changed shape; server/httpguard.py needs updating: "
            + "; ".join(problems))


# -- the middleware ----------------------------------------------------------------------


def _guard_of(request: web.Request) -> GuardProtocol | None:
    transport = request.transport
    proto = transport.get_protocol() if transport is not None else None
    return proto if isinstance(proto, GuardProtocol) else None


def _body_deadline(request: web.Request, timeout: float) -> asyncio.TimerHandle | None:
    if timeout <= 0 or not request.body_exists or request.content.is_eof():
        return None

    def expired() -> None:
        if not request.content.is_eof():
            REFUSED.labels("http_body_timeout").inc()
            request.content.set_exception(BodyTimeout())

    return asyncio.get_running_loop().call_later(timeout, expired)


@web.middleware
async def guard_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    guard = _guard_of(request)
    if guard is not None:
        guard.request_started()
    deadline = _body_deadline(request, request.app[SETTINGS].http_body_timeout_s)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BodyTimeout:
        raise RequestTimeout("the request body took too long", "request_timeout") from None
    finally:
        if deadline is not None:
            deadline.cancel()
        if guard is not None:
            guard.request_finished()


def setup(app: web.Application) -> None:
    """Time request bodies (on every listener) and tell a guarded connection about its requests."""
    app.middlewares.append(guard_middleware)
