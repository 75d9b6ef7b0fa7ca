"""The asyncio RTMP ingest server: sockets in, ``ServerSession`` calls, handler calls out.

It only translates: read bytes, feed the session, write its output, pass its
events to the application's ``IngestHandler`` / ``PublishSession``.

Protection against hostile clients:

* A connection that has not started publishing within ``handshake_timeout``
  seconds of being accepted is closed ("unauthenticated time limit").
* At most ``max_pending`` such connections exist at once; when another
  arrives, the *oldest* pending one is closed.  Stalled handshakes are old by
  the time a real publisher arrives, and a real handshake takes milliseconds.
* An address refused ``throttle.max_failures`` times for a wrong key is turned
  away at accept for a while (:class:`media.throttle.FailureThrottle`, scope
  ``ANY_ROOM``: a wrong key names no room). A correct key does not clear it, so a
  guesser cannot reset the count with a key of their own.
* The chunk layer's ``Limits`` cap chunk size, message length, chunk streams
  and buffered bytes; a violation closes the connection with a counted error.
* A publishing connection silent for ``idle_timeout`` seconds is closed.

The ``PublishSession`` callbacks are synchronous and must not block: they run
on the event loop between two socket reads, so a slow callback slows only this
publisher's reads (TCP pushes back on the sender), never other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from media.throttle import ANY_ROOM, FailureThrottle

from . import metrics
from .errors import ProtocolError
from .limits import DEFAULT_LIMITS, Limits
from .server_session import PublishRequested, ServerEvent, ServerSession, Unpublished
from .units import AudioConfig, Ended, MediaUnit, Metadata, PublishEvent, VideoConfig

log = logging.getLogger(__name__)


class PublishSession(Protocol):
    """What the application gives back for an accepted publish."""

    def on_event(self, event: PublishEvent) -> None:
        """Called in stream order; the last call, exactly once, is an ``Ended``."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused publish: ``reason`` labels the metric; code/description go to the client."""

    reason: str = "bad_key"
    code: str = "NetStream.Publish.BadName"
    description: str = "Invalid stream key."
    counts_as_failure: bool = True


class IngestHandler(Protocol):
    async def authorize(self, app: str, stream_key: str, peer: str) -> PublishSession | Refusal:
        """Decide on a publish; ``peer`` is ``"host:port"``."""
        ...


@dataclass(frozen=True, slots=True)
class ServerConfig:
    handshake_timeout: float = 10.0
    max_pending: int = 64
    idle_timeout: float = 30.0
    read_size: int = 64 * 1024
    limits: Limits = DEFAULT_LIMITS


@dataclass(slots=True)
class ServerStats:
    """Per-server counts (the Prometheus metrics are process-wide)."""

    accepted: int = 0
    published: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    protocol_errors: dict[str, int] = field(default_factory=dict)


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class _Connection:
    """One socket and its session; lives as long as its task."""

    def __init__(
        self, server: RtmpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.server = server
        self.reader, self.writer = reader, writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.host = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self.session = ServerSession(server.config.limits)
        self.publish: PublishSession | None = None
        self.accepted_at = asyncio.get_running_loop().time()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def _timeout(self) -> float:
        if self.publish is not None:
            return self.server.config.idle_timeout
        elapsed = asyncio.get_running_loop().time() - self.accepted_at
        return self.server.config.handshake_timeout - elapsed

    async def run(self) -> str:
        """Serve until the peer leaves; return why it ended."""
        while True:
            timeout = self._timeout()
            if timeout <= 0:
                return "timeout"
            try:
                data = await asyncio.wait_for(
                    self.reader.read(self.server.config.read_size), timeout
                )
            except TimeoutError:
                return "timeout"
            if not data:
                return "disconnected"
            events: deque[object] = deque(self.session.receive_data(data))
            while events:
                event = events.popleft()
                if isinstance(event, PublishRequested):
                    follow_up = await self._authorize(event)
                    if follow_up is None:
                        await self._flush()
                        return "refused"
                    events.extendleft(reversed(follow_up))
                else:
                    self._dispatch(event)
            await self._flush()

    def _dispatch(self, event: object) -> None:
        publish = self.publish
        if publish is None:
            return
        if isinstance(event, Unpublished):
            self.publish = None
            self.server._left_publishing(self)
            publish.on_event(Ended("unpublished"))
        elif isinstance(event, MediaUnit | VideoConfig | AudioConfig | Metadata):
            publish.on_event(event)

    async def _authorize(self, event: PublishRequested) -> list[ServerEvent] | None:
        """Ask the handler; None when refused, else the events held behind publish."""
        server = self.server
        now = asyncio.get_running_loop().time()
        if server.throttle.is_blocked(self.host, ANY_ROOM, now):
            result: PublishSession | Refusal = Refusal(
                "throttled", "NetStream.Publish.Unauthorized", "Too many failed attempts.", False
            )
        elif not event.stream_key:
            result = Refusal("bad_key")
        else:
            result = await server.handler.authorize(event.app, event.stream_key, self.peer)
        if isinstance(result, Refusal):
            self.session.reject_publish(result.code, result.description)
            server._count_rejected(result.reason)
            if result.counts_as_failure:
                server.throttle.record_failure(self.host, ANY_ROOM, now)
            log.info(
                "rtmp publish refused peer=%s app=%s reason=%s", self.peer, event.app, result.reason
            )
            return None
        self.publish = result
        server._entered_publishing(self)
        return self.session.accept_publish()


class RtmpServer:
    """Accept publishers on ``host:port``; see the module docstring for the limits."""

    def __init__(
        self,
        handler: IngestHandler,
        config: ServerConfig | None = None,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self.handler = handler
        self.config = config or ServerConfig()
        self.throttle = throttle if throttle is not None else FailureThrottle()
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._pending: dict[_Connection, None] = {}  # insertion order = age
        self._publishing: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._pending) + len(self._publishing)

    def buffered_bytes(self) -> int:
        """Peer input held by every session together (for memory checks)."""
        return sum(c.session.buffered for c in (*self._pending, *self._publishing))

    def disconnect(self, peer: str) -> bool:
        """Close the publishing connection from ``peer`` (``"host:port"``) now; the publish
        ends as ``disconnected``. True when there was one (the owner ended the stream)."""
        for conn in self._publishing:
            if conn.peer == peer:
                conn.abort()
                return True
        return False

    async def start(self, host: str = "127.0.0.1", port: int = 1935) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)

    async def close(self) -> None:
        """Stop listening, close every connection and wait for their tasks."""
        if self._server is not None:
            self._server.close()
        for conn in (*self._pending, *self._publishing):
            conn.abort()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()

    def _count_rejected(self, reason: str) -> None:
        _bump(self.stats.rejected, reason)
        metrics.REJECTED.labels(reason).inc()

    def _entered_publishing(self, conn: _Connection) -> None:
        self._pending.pop(conn, None)
        self._publishing.add(conn)
        self.stats.published += 1
        metrics.PUBLISHES.inc()
        metrics.CONNECTIONS.labels("pending").dec()
        metrics.CONNECTIONS.labels("publishing").inc()

    def _left_publishing(self, conn: _Connection) -> None:
        # The connection stays open but is back to unauthenticated; its clock restarts.
        self._publishing.discard(conn)
        self._pending[conn] = None
        conn.accepted_at = asyncio.get_running_loop().time()
        metrics.CONNECTIONS.labels("publishing").dec()
        metrics.CONNECTIONS.labels("pending").inc()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(_Connection(self, reader, writer))
        finally:
            self._tasks.discard(task)

    def _admit(self, conn: _Connection) -> bool:
        self.stats.accepted += 1
        if self.throttle.is_blocked(conn.host, ANY_ROOM, conn.accepted_at):
            self._count_rejected("throttled")
            return False
        while len(self._pending) >= self.config.max_pending:
            oldest = next(iter(self._pending))
            self._pending.pop(oldest)
            metrics.CONNECTIONS.labels("pending").dec()
            self._count_rejected("pending_evicted")
            oldest.abort()
        self._pending[conn] = None
        metrics.CONNECTIONS.labels("pending").inc()
        return True

    async def _serve(self, conn: _Connection) -> None:
        if not self._admit(conn):
            conn.abort()
            return
        reason = "disconnected"
        try:
            reason = await conn.run()
        except ProtocolError as exc:
            reason = "protocol_error"
            _bump(self.stats.protocol_errors, exc.kind)
            metrics.PROTOCOL_ERRORS.labels(exc.kind).inc()
            log.info("rtmp protocol error peer=%s kind=%s: %s", conn.peer, exc.kind, exc)
        except (ConnectionError, OSError):
            reason = "disconnected"
        except Exception:
            reason = "handler_error"
            log.exception("rtmp handler failed peer=%s", conn.peer)
        finally:
            self._finish(conn, reason)

    def _finish(self, conn: _Connection, reason: str) -> None:
        if reason == "timeout" and conn.publish is None:
            self._count_rejected("handshake_timeout")
        if conn in self._pending:
            self._pending.pop(conn)
            metrics.CONNECTIONS.labels("pending").dec()
        if conn in self._publishing:
            self._publishing.discard(conn)
            metrics.CONNECTIONS.labels("publishing").dec()
        if conn.publish is not None:
            publish, conn.publish = conn.publish, None
            if self._server is not None and not self._server.is_serving():
                reason = "server_closed"
            try:
                publish.on_event(Ended(reason))
            except Exception:
                log.exception("rtmp publish end failed peer=%s", conn.peer)
        with contextlib.suppress(Exception):
            conn.writer.close()
