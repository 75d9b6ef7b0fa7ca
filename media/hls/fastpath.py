"""LL-HLS below aiohttp: ``GET /live/{slug}/...`` answered on the connection itself.

Thousands of viewers ask for the same few answers (the playlist of this version, the newest
part), so the general request machinery (a request object, routing, middlewares, a Response
built and its headers rendered per request) costs far more than the answer. Here a
connection's request heads are read by :class:`FastConnection` (an ``asyncio.Protocol``),
and the answers are written from bytes built once: each part, segment and init is written
as it is kept in the segmenter (no copy: ``writelines`` of a head and the body), each
playlist version is encoded once (served as it is under a token in the path,
``/live/{slug}/vt/{token}/``; asked for with ``?vt=``, a gated room's is one join with the
token, :func:`media.hls.http.token_pieces`), and the head is a prebuilt prefix plus length, date
and request id.

Rules:

* Same answers as :mod:`media.hls.http` (status, headers, body, counters, the analytics hook):
  the fast path serves only what it can answer exactly as the handler would, and the tests
  compare the two.
* A connection starts here. The first request this module does not serve (another path or
  method, a room no node holds, a head it does not read simply, an answer it does not make)
  hands the connection to aiohttp for good: aiohttp's protocol is made then, given the
  connection and every byte not answered yet, and from then on this object only forwards.
  So one request at a time, in order, always.
* Served here: 200 for playlists (plain and blocking reloads), parts (also the hinted one,
  after its wait), segments, inits; 403 for a refused viewing token; and the answers a wait
  ends with (503 for a blocking reload or a stream still starting, 404 for a hinted part
  that never came). A gate check that needs I/O (a cache to refill) runs in a task once,
  then the request goes on.
* A room another node holds (an edge's, :mod:`media.hls.edge`): after the same gate, the
  origin's answer as :meth:`HlsEdge.pull <media.hls.edge.HlsEdge.pull>` keeps it (its cache
  without waiting, else a task: the fetch in flight or a new one), written with the origin's
  status, type, ``Cache-Control`` and ``Retry-After`` as the handler's ``elsewhere`` answer
  is (``private`` for a viewer's token, the cookie's token passed on as ``vt``), counted and
  told to the analytics hook as there. None from the edge (nobody holds the room): aiohttp.
* Bytes that arrive while an answer is pending wait in this connection's buffer (a head of
  at most :data:`MAX_HEAD` bytes; more than that goes to aiohttp, which refuses it).
* Slow consumers: while the transport's buffer is over its high-water mark
  (``pause_writing``) no further request is read, so a viewer that does not read holds at most
  one answer in its socket buffer; bodies are the segmenter's bytes, shared, not copied.
* An idle connection is closed after ``keepalive_s``, as aiohttp's own would be.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal, cast

from aiohttp.http import SERVER_SOFTWARE

from media.hls import http
from media.hls.edge import HlsEdge, Pulled
from media.hls.segmenter import Segmenter
from media.hls.service import HlsMuxer, HlsService, PlaylistAsked

log = logging.getLogger(__name__)

MAX_HEAD = 8190
"""Bytes of a request head read here (aiohttp's own limit for a line is the same)."""
_PREFIX = b"GET /live/"
_NAME = re.compile(r"^[0-9A-Za-z_-]{1,128}/(?:vt/[0-9A-Za-z_.-]{1,512}/)?[0-9a-z-]{1,80}\.(?:m3u8|mp4|m4s)$")
"""``{slug}/{name}``, or ``{slug}/vt/{token}/{name}`` (the viewing token in the path, as the
handler's second route takes it)."""
_WANTED = {b"cookie": "cookie", b"user-agent": "agent", b"x-request-id": "request_id"}
_REFUSED_HEADERS = (b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"connection")
"""A GET with a body, an upgrade, or a ``Connection`` wish other than ``keep-alive`` (which
browsers send, and HTTP/1.1 means anyway): aiohttp answers those."""

AccessNow = Callable[[str, "tuple[str, ...]"], "tuple[bool, str | Literal[False] | None]"]
"""``access_now(slug, tokens)``: (True, as ``Access`` answers) when known without waiting,
else (False, None) and the fast path asks ``Access``."""
RequestId = Callable[[str], str]
"""``request_id(inbound X-Request-Id or "")``: the id an answer carries (the server's rule)."""


@dataclass(slots=True)
class FastRequest:
    slug: str
    name: str
    query: dict[str, str]
    raw: bytes
    """The head as it came, with its blank line (given back to aiohttp as it came)."""
    cookie: str = ""
    agent: str = ""
    request_id: str = ""
    msn: int | None = None
    """A blocking reload's ``_HLS_msn``, or a hinted part's msn (set when it waits)."""
    part: int | None = None
    token: str | None = None
    arrived: float = 0.0
    path_token: str | None = None
    """The viewing token of a ``/live/{slug}/vt/{token}/{name}`` address."""


def parse_head(head: bytes) -> FastRequest | None:
    """A request head (with its blank line) this module may serve, or None."""
    line, _, rest = head[:-4].partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1":
        return None
    try:
        target = parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    path, _, raw_query = target.partition("?")
    if not path.startswith("/live/") or not _NAME.match(path[6:]) or "%" in target or "+" in raw_query:
        return None
    pieces = path[6:].split("/")
    query: dict[str, str] = {}
    for item in raw_query.split("&") if raw_query else ():
        key, _, text = item.partition("=")
        query.setdefault(key, text)
    request = FastRequest(pieces[0], pieces[-1], query, head)
    if len(pieces) == 4:
        request.path_token = pieces[2]
    for header in rest.split(b"\r\n") if rest else ():
        raw_name, colon, value = header.partition(b":")
        lowered = raw_name.lower()
        if not colon or lowered != lowered.strip() or not lowered:
            return None
        if lowered in _REFUSED_HEADERS and not (lowered == b"connection" and value.strip().lower() == b"keep-alive"):
            return None
        field = _WANTED.get(lowered)
        if field is not None:
            if getattr(request, field):
                return None  # twice: aiohttp's rule for that is not ours to copy
            setattr(request, field, value.strip().decode("latin-1"))
    return request


class _Heads:
    """Prebuilt answer heads: the status line and fixed headers per kind of answer, then the
    length, the date (rebuilt once a second) and the request id."""

    def __init__(self, request_id: RequestId | None) -> None:
        self._request_id = request_id
        self._prefixes: dict[tuple[int, str, str, str], bytes] = {}
        self._edge_prefixes: dict[tuple[int, str, tuple[tuple[str, str], ...]], bytes] = {}
        self._date = (0, b"")

    def head(self, status: int, content_type: str, cache: str, length: int, inbound_id: str,
             extra: str = "") -> bytes:
        key = (status, content_type, cache, extra)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = _prefix(*key)
        return self._tail(prefix, length, inbound_id)

    def _tail(self, prefix: bytes, length: int, inbound_id: str) -> bytes:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n".encode())
        if self._request_id is None:
            return b"%sContent-Length: %d\r\n%s\r\n" % (prefix, length, self._date[1])
        return b"%sContent-Length: %d\r\n%sX-Request-Id: %s\r\n\r\n" % (
            prefix, length, self._date[1], self._request_id(inbound_id).encode())

    def edge_head(self, status: int, content_type: str, headers: tuple[tuple[str, str], ...], length: int,
                  inbound_id: str) -> bytes:
        """An edge's answer's head (:meth:`media.hls.edge.Pulled.response`): the origin's
        status, type and passed headers, and ``Access-Control-Allow-Origin: *`` whatever the
        status."""
        key = (status, content_type, headers)
        prefix = self._edge_prefixes.get(key)
        if prefix is None:
            if len(self._edge_prefixes) > 1024:
                self._edge_prefixes.clear()
            lines = [f"HTTP/1.1 {status} {_reason(status)}", f"Content-Type: {content_type}",
                     *(f"{name}: {value}" for name, value in headers), "Access-Control-Allow-Origin: *",
                     f"Server: {SERVER_SOFTWARE}"]
            prefix = self._edge_prefixes[key] = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        return self._tail(prefix, length, inbound_id)


_REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _prefix(status: int, content_type: str, cache: str, extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Type: {content_type}",
             f"Cache-Control: {cache}"]
    if status == 200:
        lines.append("Access-Control-Allow-Origin: *")
    if extra:
        lines.append(extra)
    lines.append(f"Server: {SERVER_SOFTWARE}")
    return ("\r\n".join(lines) + "\r\n").encode()


class _Expiry:
    """When the waits time out (a blocking reload, the hinted part, a stream starting). Waits
    of one length end in the order they began, so per length a queue of (deadline,
    connection) and one timer for its head stand in for a timer per wait; a wait that ended
    first is passed over when its time comes (:meth:`FastConnection.expire`)."""

    def __init__(self) -> None:
        self._lanes: dict[float, _Lane] = {}

    def add(self, loop: asyncio.AbstractEventLoop, connection: FastConnection, timeout: float) -> float:
        """The deadline (loop time) of a wait of ``timeout`` seconds beginning now."""
        lane = self._lanes.get(timeout)
        if lane is None:
            lane = self._lanes[timeout] = _Lane(loop)
        return lane.add(connection, loop.time() + timeout)


class _Lane:
    """The waits of one length: deadlines and connections in two queues (no object per wait)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadlines: deque[float] = deque()
        self._connections: deque[FastConnection] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: FastConnection, deadline: float) -> float:
        self._deadlines.append(deadline)
        self._connections.append(connection)
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._due)
        return deadline

    def _due(self) -> None:
        self._timer = None
        deadlines, connections = self._deadlines, self._connections
        now = self._loop.time() + 0.001  # a timer may fire a hair early
        while deadlines and deadlines[0] <= now:
            try:
                connections.popleft().expire(deadlines.popleft())
            except Exception:
                log.exception("an LL-HLS wait's timeout failed")
        if self._timer is not None:  # armed by a wait that an answer above let begin
            self._timer.cancel()
        self._timer = self._loop.call_at(deadlines[0], self._due) if deadlines else None


_MediaName = tuple[str, str, int, int]
_NAMES_KEPT = 4096
"""Media names whose reading is kept (a few live rooms' windows of parts many times over)."""


class LivePath:
    """What every fast connection shares: the service, the gate, the prebuilt heads."""

    def __init__(self, service: HlsService, *, access: http.Access | None = None,
                 access_now: AccessNow | None = None, request_id: RequestId | None = None,
                 keepalive_s: float = 75.0, edge: HlsEdge | None = None) -> None:
        self.service = service
        self.edge = edge
        """Rooms held by another node are answered from it (the LL-HLS edge) when given."""
        self.access = access
        self.access_now = access_now
        self.keepalive_s = keepalive_s
        self.heads = _Heads(request_id)
        self.expiry = _Expiry()
        self._counts: dict[tuple[str, int], int] = {}
        self._names: dict[str, _MediaName | None] = {}
        self._playlist_bytes: tuple[str | None, bytes] = (None, b"")

    def protocol(self, make_aiohttp: Callable[[], asyncio.Protocol], *,
                 started: Callable[[], None] | None = None,
                 finished: Callable[[], None] | None = None) -> FastConnection:
        """A connection's protocol; ``make_aiohttp()`` makes aiohttp's when it is handed over;
        ``started``/``finished`` are told of each request served here (the connection guard)."""
        return FastConnection(self, make_aiohttp, started, finished)

    def media_name(self, name: str) -> _MediaName | None:
        """``name`` read by :data:`media.hls.http.NAME`: (prefix, "init" / "seg" / "part",
        number, part index), kept per name (every viewer asks for the same few)."""
        if name in self._names:
            return self._names[name]
        match = http.NAME.match(name)
        parsed: _MediaName | None = None
        if match is not None:
            if match["init"] is not None:
                parsed = (match["prefix"], "init", int(match["init"]), 0)
            elif match["seg"] is not None:
                parsed = (match["prefix"], "seg", int(match["seg"]), 0)
            else:
                parsed = (match["prefix"], "part", int(match["pmsn"]), int(match["part"]))
        if len(self._names) >= _NAMES_KEPT:
            self._names.clear()
        self._names[name] = parsed
        return parsed

    def count(self, kind: str, status: int) -> None:
        """``nal_hls_requests_total`` += 1 (:func:`media.hls.http.count`), added at the end of
        this loop iteration: one counter update per kind of answer an iteration, not one per
        answer. A scrape is read in a later iteration, so it sees every answer given before it."""
        key = (kind, status)
        counts = self._counts
        if key in counts:
            counts[key] += 1
            return
        if not counts:
            asyncio.get_running_loop().call_soon(self._add_counts)
        counts[key] = 1

    def _add_counts(self) -> None:
        counts, self._counts = self._counts, {}
        for (kind, status), amount in counts.items():
            http.count(kind, status, amount)

    def playlist_bytes(self, text: str) -> bytes:
        """The plain playlist's body, encoded once per version."""
        if self._playlist_bytes[0] is not text:
            self._playlist_bytes = (text, text.encode())
        return self._playlist_bytes[1]


_JSON = "application/json; charset=utf-8"
_PLAYLIST = f"{http.PLAYLIST_TYPE}; charset=utf-8"


class FastConnection(asyncio.Protocol):
    """One client connection: served here until a request is not, then aiohttp's."""

    def __init__(self, live: LivePath, make_aiohttp: Callable[[], asyncio.Protocol],
                 started: Callable[[], None] | None, finished: Callable[[], None] | None) -> None:
        self.live = live
        self._make_aiohttp = make_aiohttp
        self._started, self._finished = started, finished
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._scanned = 0
        """Bytes at the buffer's start known to hold no end of a head (less the 3 a ``\r\n\r\n``
        split across reads may have there), so a head sent a byte at a time is scanned once."""
        self._pending: FastRequest | None = None
        self._paused = False
        self._reading = False
        self._idle: asyncio.TimerHandle | None = None
        self._answered_at = 0.0
        """Loop time of the last answer: the idle timer is armed once and, when it fires
        early (requests came since), re-armed for the rest, not re-made per request."""
        self._remote = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        # the pending request's wait (at most one: its request is the pending one)
        self._ready: Callable[[Segmenter, FastRequest], bool] | None = None
        self._then: Callable[[FastRequest, HlsMuxer, bool], None] | None = None
        self._waits_on: HlsMuxer | None = None
        self._deadline = 0.0
        self._watched_by: HlsMuxer | None = None
        """The muxer that holds this connection's :meth:`_changed` (called once, on its next
        change): a new wait on the same muxer does not add it again."""

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) and peer else ""

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
            return
        self._buffer += data
        self._read()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_idle()
        self.transport = None
        self._pending = None
        self._ready = self._then = self._waits_on = None
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.inner is not None:
            self.inner.resume_writing()
        else:
            self._read()

    # -- reading requests -----------------------------------------------------------------

    def _read(self) -> None:
        if self._reading:
            return  # an answer given while serving: the loop below goes on
        self._reading = True
        try:
            while self._buffer and self._pending is None and not self._paused and self.inner is None and self.transport:
                end = self._buffer.find(b"\r\n\r\n", self._scanned, MAX_HEAD + 4)
                if end < 0:
                    self._scanned = max(0, min(len(self._buffer), MAX_HEAD + 4) - 3)
                    start = bytes(self._buffer[: len(_PREFIX)])
                    if len(self._buffer) > MAX_HEAD or not _PREFIX.startswith(start) and not start.startswith(_PREFIX):
                        self._hand_over()
                    return
                request = parse_head(bytes(self._buffer[: end + 4]))
                muxer = self.live.service.get(request.slug) if request is not None else None
                if request is None or muxer is None and self.live.edge is None:
                    self._hand_over()
                    return
                del self._buffer[: end + 4]
                self._scanned = 0
                self._pending = request
                if self._started is not None:
                    self._started()
                self._admit(request, muxer)
        finally:
            self._reading = False

    def _hand_over(self) -> None:
        assert self.transport is not None
        self._cancel_idle()
        inner = self.inner = self._make_aiohttp()
        inner.connection_made(self.transport)
        if self._paused:
            inner.pause_writing()
        data, self._buffer = bytes(self._buffer), bytearray()
        if data:
            inner.data_received(data)

    # -- serving --------------------------------------------------------------------------

    def _admit(self, request: FastRequest, muxer: HlsMuxer | None) -> None:
        """The gate first, as the handler asks it first (``muxer`` None: a room not held
        here, answered from the edge)."""
        live = self.live
        if live.access is None:
            self._gated(request, muxer, None, time.time())
            return
        tokens = _tokens(request)
        arrived = time.time()
        known, allowed = live.access_now(request.slug, tokens) if live.access_now else (False, None)
        if known:
            self._gated(request, muxer, allowed, arrived)
            return
        task = asyncio.ensure_future(live.access(request.slug, tokens))
        task.add_done_callback(lambda done: self._asked(done, request, muxer, arrived))

    def _asked(self, done: asyncio.Future[str | Literal[False] | None], request: FastRequest,
               muxer: HlsMuxer | None, arrived: float) -> None:
        if self._pending is not request:
            return  # the connection went meanwhile
        if done.cancelled() or done.exception() is not None:
            log.warning("LL-HLS gate check failed; aiohttp answers", exc_info=done.exception())
            self._give_back(request)
            return
        self._gated(request, muxer, done.result(), arrived)

    def _gated(self, request: FastRequest, muxer: HlsMuxer | None, allowed: str | Literal[False] | None,
               arrived: float) -> None:
        if allowed is False:
            body = b'{"error": "viewing token needed"}'
            self._answer(request, 403, _JSON, "no-store", body)
        elif muxer is None:
            self._from_edge(request, allowed, arrived)
        else:
            self._serve(request, muxer, allowed, arrived)

    def _from_edge(self, request: FastRequest, token: str | None, arrived: float) -> None:
        """As the handler's ``elsewhere``: the origin's answer (the edge's cache, a fetch in
        flight, or a new one), the origin asked with the token that holds; no node holding
        the room: aiohttp answers (offline, unknown room)."""
        edge = self.live.edge
        assert edge is not None
        query = request.query
        if token and query.get(http.TOKEN_PARAM) != token:  # the cookie's: passed on
            query = {**query, http.TOKEN_PARAM: token}
        found = edge.pull_now(request.slug, request.name, query)
        if isinstance(found, Pulled):
            self._send_pulled(request, found, token, arrived)
            return
        # the fetch in flight (no task per waiter), or the directory to ask first
        waiting = found if found is not None else asyncio.ensure_future(edge.pull(request.slug, request.name, query))
        waiting.add_done_callback(lambda done: self._pulled(done, request, token, arrived))

    def _pulled(self, done: asyncio.Future[Pulled | None] | asyncio.Future[Pulled], request: FastRequest, token: str | None,
                arrived: float) -> None:
        if self._pending is not request:
            return  # the connection went meanwhile
        if done.cancelled() or done.exception() is not None:
            log.warning("LL-HLS edge pull failed; aiohttp answers", exc_info=done.exception())
            self._give_back(request)
            return
        pulled = done.result()
        if pulled is None:
            self._give_back(request)
        else:
            self._send_pulled(request, pulled, token, arrived)

    def _send_pulled(self, request: FastRequest, pulled: Pulled, token: str | None, arrived: float) -> None:
        headers = pulled.headers
        if token and pulled.status == 200:  # as the handler: private, said once
            headers = tuple((key, http.private(value) if key == "Cache-Control" else value) for key, value in headers)
        head = self.live.heads.edge_head(pulled.status, pulled.content_type, headers, len(pulled.body),
                                         request.request_id)
        kind = http.kind_of(request.name)
        self._write(request, head, pulled.body, kind, pulled.status)
        on_playlist = self.live.service.on_playlist
        if kind == "playlist" and pulled.status == 200 and on_playlist is not None:
            on_playlist(PlaylistAsked(request.slug, arrived, token or request.path_token or request.query.get(http.TOKEN_PARAM),
                                      request.agent, request.cookie, self._remote))

    def _serve(self, request: FastRequest, muxer: HlsMuxer, token: str | None, arrived: float) -> None:
        name, segmenter = request.name, muxer.segmenter
        if name == "index.m3u8":
            self._playlist(request, muxer, token, arrived)
            return
        if name == "init.mp4":
            init = segmenter.latest_init()
            self._media(request, init, "no-cache", token) if init else self._give_back(request)
            return
        parsed = self.live.media_name(name)
        if parsed is None or parsed[0] != segmenter.prefix:
            self._give_back(request)
        elif parsed[1] == "init":
            body = segmenter.inits.get(parsed[2])
            self._media(request, body, http.IMMUTABLE, token) if body else self._give_back(request)
        elif parsed[1] == "seg":
            segment = segmenter.segment(parsed[2])
            data = segment.data if segment is not None else None
            self._media(request, data, http.IMMUTABLE, token) if data else self._give_back(request)
        else:
            self._part(request, muxer, parsed[2], parsed[3], token)

    def _part(self, request: FastRequest, muxer: HlsMuxer, msn: int, index: int, token: str | None) -> None:
        segmenter = muxer.segmenter
        part = segmenter.part(msn, index)
        if part is not None:
            self._media(request, part.data, http.IMMUTABLE, token)
        elif http.is_hinted(muxer, msn, index):
            request.msn, request.part, request.token = msn, index, token
            self._wait(request, muxer, _part_settled, 3 * segmenter.target_duration, self._hinted)
        else:
            self._give_back(request)

    def _hinted(self, request: FastRequest, muxer: HlsMuxer, _settled: bool) -> None:
        assert request.msn is not None and request.part is not None
        found = muxer.segmenter.part(request.msn, request.part)
        if found is not None:
            self._media(request, found.data, http.IMMUTABLE, request.token)
        else:
            self._answer(request, 404, _JSON, "no-store", b'{"error": "not found"}')

    def _playlist(self, request: FastRequest, muxer: HlsMuxer, token: str | None, arrived: float) -> None:
        query = request.query
        raw_msn, raw_part = query.get("_HLS_msn"), query.get("_HLS_part")
        if not _number(raw_msn) or not _number(raw_part) or raw_part is not None and raw_msn is None:
            self._give_back(request)  # 400
            return
        request.msn = int(raw_msn) if raw_msn is not None else None
        request.part = int(raw_part) if raw_part is not None else None
        request.token, request.arrived = token, arrived
        self._wait(request, muxer, _has_playlist, http.STARTUP_WAIT, self._begun)

    def _begun(self, request: FastRequest, muxer: HlsMuxer, ready: bool) -> None:
        segmenter = muxer.segmenter
        if not ready:
            self._starting(request)
        elif request.msn is None:
            self._send_playlist(request, muxer, request.token, http.PLAYLIST_CACHE, request.arrived)
        else:
            newest = segmenter.last_msn()
            if newest is None or request.msn > newest + 2:
                self._give_back(request)  # 400
                return
            self._wait(request, muxer, _has_part, 3 * segmenter.target_duration, self._reloaded)

    def _reloaded(self, request: FastRequest, muxer: HlsMuxer, ready: bool) -> None:
        if not ready:
            self._answer(request, 503, _JSON, "no-store", b'{"error": "not available yet"}',
                         extra="Retry-After: 1")
        else:
            cache = _reload_cache(6 * muxer.segmenter.target_duration)
            self._send_playlist(request, muxer, request.token, cache, request.arrived)

    def _starting(self, request: FastRequest) -> None:
        self._answer(request, 503, _JSON, "no-store", b'{"error": "starting"}', extra="Retry-After: 1")

    def _send_playlist(self, request: FastRequest, muxer: HlsMuxer, token: str | None, cache: str,
                       arrived: float) -> None:
        text = muxer.segmenter.playlist_text()
        if text is None:
            self._starting(request)
            return
        if token and request.path_token is None:
            body = f"?{http.TOKEN_PARAM}={token}".join(http.token_pieces(text)).encode()
        else:  # free, or the token in the path: the listed URIs, relative, carry it on
            body = self.live.playlist_bytes(text)
        self._answer(request, 200, _PLAYLIST, cache, body, token=token)
        on_playlist = self.live.service.on_playlist
        if on_playlist is not None:
            on_playlist(PlaylistAsked(request.slug, arrived, token or request.path_token or request.query.get(http.TOKEN_PARAM),
                                      request.agent, request.cookie, self._remote))

    def _media(self, request: FastRequest, body: bytes | None, cache: str, token: str | None) -> None:
        assert body is not None
        self._answer(request, 200, http.MEDIA_TYPE, cache, body, token=token)

    def _wait(self, request: FastRequest, muxer: HlsMuxer, ready: Callable[[Segmenter, FastRequest], bool],
              timeout: float, then: Callable[[FastRequest, HlsMuxer, bool], None]) -> None:
        """``then(request, muxer, True)`` once ``ready(segmenter, request)``, with False on
        timeout or the stream's end (as ``HlsMuxer.wait_until``), unless the connection went
        first. The wait is this connection's state, not an object of its own: no closure, no
        timer, nothing left for the garbage collector."""
        if ready(muxer.segmenter, request):
            then(request, muxer, True)
            return
        if muxer.closed:
            then(request, muxer, False)
            return
        assert self._loop is not None
        self._ready, self._then, self._waits_on = ready, then, muxer
        self._deadline = self.live.expiry.add(self._loop, self, timeout)
        if self._watched_by is not muxer:
            self._watched_by = muxer
            muxer.watch(self._changed)

    def _changed(self) -> None:
        """The muxer's next change came (it calls a watcher once)."""
        self._watched_by = None
        muxer, ready, request = self._waits_on, self._ready, self._pending
        if muxer is None or ready is None or request is None:
            return
        if ready(muxer.segmenter, request):
            self._settle(True)
        elif muxer.closed:
            self._settle(False)
        else:
            self._watched_by = muxer
            muxer.watch(self._changed)

    def expire(self, deadline: float) -> None:
        """A wait's time ran out (:class:`_Expiry`): this connection's, if it still waits on it."""
        if self._then is not None and self._deadline == deadline:
            self._settle(False)

    def _settle(self, outcome: bool) -> None:
        then, muxer, request = self._then, self._waits_on, self._pending
        self._ready = self._then = self._waits_on = None
        if then is not None and muxer is not None and request is not None:
            then(request, muxer, outcome)

    def _give_back(self, request: FastRequest) -> None:
        """An answer this module does not make: aiohttp serves the request, and the rest of
        the connection. The request's head is put back in front of the buffer."""
        if self._pending is not request:
            return
        self._pending = None
        if self._finished is not None:
            self._finished()
        self._buffer[:0] = request.raw
        self._hand_over()

    def _answer(self, request: FastRequest, status: int, content_type: str, cache: str, body: bytes, *,
                token: str | None = None, extra: str = "") -> None:
        if self._pending is not request or self.transport is None:
            return
        if token and status == 200:
            cache = http.private(cache)
        head = self.live.heads.head(status, content_type, cache, len(body), request.request_id, extra)
        self._write(request, head, body, http.kind_of(request.name), status)

    def _write(self, request: FastRequest, head: bytes, body: bytes, kind: str, status: int) -> None:
        if self._pending is not request or self.transport is None:
            return
        self.transport.writelines((head, body))
        self.live.count(kind, status)
        self._pending = None
        if self._finished is not None:
            self._finished()
        if self.live.keepalive_s > 0:
            loop = self._loop
            assert loop is not None
            self._answered_at = loop.time()
            if self._idle is None:
                self._idle = loop.call_at(self._answered_at + self.live.keepalive_s, self._idle_out)
        self._read()

    def _idle_out(self) -> None:
        self._idle = None
        if self.transport is None or self.inner is not None:
            return
        if self._pending is not None:
            return  # answering arms it again
        close_at = self._answered_at + self.live.keepalive_s
        loop = self._loop
        assert loop is not None
        if loop.time() < close_at:
            self._idle = loop.call_at(close_at, self._idle_out)
        elif not self._buffer:
            self.transport.close()

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None


@functools.lru_cache(maxsize=64)
def _reload_cache(max_age: int) -> str:
    """A blocking reload's ``Cache-Control`` (as :func:`media.hls.http._playlist` writes it)."""
    return f"public, max-age={max_age}"


def _number(raw: str | None) -> bool:
    """A query number as :func:`media.hls.http._query_int` takes it (absent, or ASCII digits, at
    most 12)."""
    return raw is None or raw.isascii() and raw.isdigit() and len(raw) <= 12


def _has_playlist(segmenter: Segmenter, _request: FastRequest) -> bool:
    return segmenter.playlist_text() is not None


def _has_part(segmenter: Segmenter, request: FastRequest) -> bool:
    assert request.msn is not None
    return segmenter.has(request.msn, request.part)


def _part_settled(segmenter: Segmenter, request: FastRequest) -> bool:
    assert request.msn is not None and request.part is not None
    return segmenter.part_settled(request.msn, request.part)


def _tokens(request: FastRequest) -> tuple[str, ...]:
    """As the handler reads them: the path's, the query's ``vt``, then the ``nal_vt`` cookie's."""
    query_token = request.query.get(http.TOKEN_PARAM)
    path_token = request.path_token
    if http.TOKEN_COOKIE not in request.cookie:  # the usual: one token or none, no cookie
        if path_token is None:
            return (query_token,) if query_token else ()
        if query_token is None:
            return (path_token,)
    found = (path_token, query_token, _cookie(request.cookie, http.TOKEN_COOKIE))
    return tuple(dict.fromkeys(token for token in found if token))


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"') or None
    return None
