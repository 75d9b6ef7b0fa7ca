"""Per-socket outbound buffers and one batched writer per event loop: the hot path of fan-out.

Every socket has a bounded buffer (``buffer`` frames, 512 by default). ``push`` never
awaits: it appends an already-framed WebSocket frame and marks the socket dirty. Events are
encoded once per wire format (events.py) and framed once per format (``_framed``: the hub
pushes one event to every socket in a row, so the last event's frames are kept), so a
fan-out to ten thousand sockets builds its bytes once, not once per socket.

Writing: the first ``push`` after a flush schedules the next ``_Flusher.flush``, which hands
each dirty socket's pending frames to its transport in one ``write``: on the next loop
iteration, or, after a long flush, once the loop has had twice that flush's CPU time for
everything else (``FLUSH_PACE``). Events published meanwhile therefore share one system call
per socket, and no task wakes per socket per event. Frames stay one event per WebSocket frame. A socket whose
transport holds more than ``HIGH_WATER`` unsent bytes (the peer reads slowly) is left to its
own writer task, which waits until the transport drains below ``LOW_WATER`` while new
frames pile up in the bounded buffer.

Slow consumers: when a socket's buffer is full, the socket is closed with code
``SLOW_CONSUMER`` (4008) and counted in ``nal_ws_slow_consumer_total``; the pending frames
are dropped (the client reconnects with ``since``/``epoch`` and recovers from history). The
publisher and the other sockets never wait for it.

Frames are written to the transport directly (no compression is ever negotiated on room
sockets; aiohttp's own writes, pings and the close frame, are whole frames too, so the two
interleave only at frame boundaries; after the join, wsconn.py's control frames likewise); which
transport that is, is rooms/wsio.py's business. Nothing is written once the socket is closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any, Protocol

from rooms.events import Event
from rooms.metrics import FRAMES_DROPPED, FRAMES_OUT, SLOW_CONSUMERS
from rooms.protocol import WireFormat, encode

log = logging.getLogger(__name__)

GOING_AWAY = 1001
RESTARTING = 1012
TOO_BIG = 1009
NOT_ADMITTED = 4001
BANNED = 4003
SLOW_CONSUMER = 4008
CLOSE_TIMEOUT_S = 2.0
HIGH_WATER = 64 * 1024
"""Unsent bytes in a transport above which its socket stops taking batched writes."""
LOW_WATER = 16 * 1024
DRAIN_POLL_S = 0.05


def ws_frame(payload: str | bytes) -> bytes:
    """One final, unmasked server frame (RFC 6455 5.2): text for ``str``, binary for ``bytes``."""
    if isinstance(payload, str):
        data, first = payload.encode(), 0x81
    else:
        data, first = payload, 0x82
    n = len(data)
    if n < 126:
        head = bytes((first, n))
    elif n < 1 << 16:
        head = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + n.to_bytes(8, "big")
    return head + data


_last: list[Any] = [None, None, None]
"""The last event pushed and its JSON and MessagePack frames (built on first use)."""


def _framed(event: Event, fmt: WireFormat) -> bytes:
    if _last[0] is not event:
        _last[:] = [event, None, None]
    slot = 1 if fmt is WireFormat.JSON else 2
    frame = _last[slot]
    if frame is None:
        frame = _last[slot] = ws_frame(event.json_text if slot == 1 else event.msgpack_bytes)
    assert isinstance(frame, bytes)
    return frame


ENCODE_ERRORS = (UnicodeEncodeError, TypeError, ValueError, OverflowError)
"""What encoding a value we did not build ourselves may raise (a lone surrogate, a set,
an integer MessagePack cannot hold)."""


def encodable(event: Event) -> bool:
    """Frame ``event`` in both wire formats now (kept for the pushes that follow); False
    when it cannot be encoded, so the hub drops it instead of failing every socket."""
    try:
        _framed(event, WireFormat.JSON)
        _framed(event, WireFormat.MSGPACK)
    except ENCODE_ERRORS:
        _last[:] = [None, None, None]
        return False
    return True


FLUSH_PACE = 2.0
"""After a flush that took ``d`` seconds of CPU, the next one starts ``FLUSH_PACE * d``
after it ended at the earliest (``MAX_FLUSH_WAIT_S`` at most), so writing takes at most a
third of the loop's time. CPU time, not wall time: a process that waited for a core during
a flush did no more work in it."""
MAX_FLUSH_WAIT_S = 0.05


class _Flusher:
    """One per event loop: writes every dirty socket's pending frames in one pass, on the
    next iteration, or when the pace allows (``FLUSH_PACE``): a pass over ten thousand
    sockets takes milliseconds, and events published meanwhile join the next pass, one
    ``write`` per socket for all of them, while the loop reads in between."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[SocketWriter] = []
        self.scheduled = False
        self.not_before = 0.0

    def mark(self, writer: SocketWriter) -> None:
        self.dirty.append(writer)
        if not self.scheduled:
            self.scheduled = True
            wait = self.not_before - time.monotonic()
            if wait > 0:
                self.loop.call_later(wait, self.flush)
            else:
                self.loop.call_soon(self.flush)

    def flush(self) -> None:
        started = time.thread_time()
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        frames = 0
        for writer in dirty:
            frames += writer._write_batch()
        FRAMES_OUT.inc(frames)
        took = time.thread_time() - started
        self.not_before = time.monotonic() + min(took * FLUSH_PACE, MAX_FLUSH_WAIT_S)


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = weakref.WeakKeyDictionary()


def _flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class Socket(Protocol):
    """What a writer closes: aiohttp's ``WebSocketResponse`` until the socket joined, then
    its ``RoomConnection`` (wsconn.py)."""

    @property
    def closed(self) -> bool: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class SocketWriter:
    """One socket's outbound buffer; its task only drains a slow peer and closes.

    Slotted, and the buffer a plain list (an empty list holds no item array, an empty deque
    a 64-slot block): ten thousand idle sockets hold ten thousand of these."""

    __slots__ = ("ws", "transport", "fmt", "buffer", "_slot", "_pending", "_dirty", "_blocked",
                 "_flusher", "_started", "_close", "_task", "_closer")

    def __init__(
        self,
        ws: Socket,
        fmt: WireFormat,
        buffer: int = 512,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.fmt = fmt
        self.buffer = buffer
        self._slot = 1 if fmt is WireFormat.JSON else 2
        self._pending: list[bytes] = []
        self._dirty = False
        self._blocked = False
        self._flusher = _flusher()
        self._started = False
        self._close: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self._close is not None

    def start(self) -> None:
        """Allow the writer task; it exists only while a slow peer drains or a close runs."""
        self._started = True
        if self._blocked or self._close is not None:
            self._kick()

    def _kick(self) -> None:
        if self._started and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="room-socket-writer")

    def push_event(self, event: Event) -> bool:
        # The hot path (once per socket per event): ``push`` inlined, the cached frame first.
        frame = _last[self._slot] if _last[0] is event else None
        if frame is None:
            frame = _framed(event, self.fmt)
        if self._close is not None:
            return False
        pending = self._pending
        if len(pending) >= self.buffer:
            return self._overflow()
        pending.append(frame)
        if not self._dirty and not self._blocked:
            self._dirty = True
            self._flusher.mark(self)
        return True

    def push_frame(self, frame: dict[str, Any]) -> bool:
        """Queue a one-off frame; False when it cannot be queued or cannot be encoded
        (counted; the socket stays open, see ``closing``)."""
        try:
            data = ws_frame(encode(frame, self.fmt))
        except ENCODE_ERRORS as exc:
            FRAMES_DROPPED.inc()
            log.warning("room socket: %s frame not encodable: %s", frame.get("type"), exc)
            return False
        return self.push(data)

    def push(self, frame: bytes) -> bool:
        """Queue one framed message; False (and the socket closing) when it cannot be queued."""
        if self._close is not None:
            return False
        if len(self._pending) >= self.buffer:
            return self._overflow()
        self._pending.append(frame)
        if not self._dirty and not self._blocked:
            self._dirty = True
            self._flusher.mark(self)
        return True

    def _overflow(self) -> bool:
        SLOW_CONSUMERS.inc()
        self._pending.clear()
        self.close_soon(SLOW_CONSUMER, "slow consumer")
        return False

    def close_soon(self, code: int, reason: str) -> None:
        """Close after what is already queued (except for a slow consumer, whose queue was dropped)."""
        if self._close is None:
            self._close = (code, reason)
            if code == SLOW_CONSUMER:
                if self._task is not None:
                    self._task.cancel()  # it may be waiting for a drain; the close below does not
                self._closer = asyncio.create_task(self._close_ws())
            else:
                self._kick()

    # --- writing -------------------------------------------------------------------------

    def _writable(self) -> asyncio.Transport | None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            return None
        return transport

    def _write_pending(self) -> int:
        """Hand everything pending to the transport in one write; the number of frames."""
        pending, transport = self._pending, self._writable()
        if transport is None:  # closing: nothing more goes out
            pending.clear()
            return 0
        if not pending:
            return 0
        n = len(pending)
        transport.write(pending[0] if n == 1 else b"".join(pending))
        pending.clear()
        return n

    def _write_batch(self) -> int:
        """The flusher's turn: write now, or hand a slow or closing socket to its task."""
        self._dirty = False
        if self._blocked or self._close is not None:
            return 0
        transport, pending = self.transport, self._pending
        if transport is None or transport.is_closing() or self.ws.closed:
            pending.clear()  # closing: nothing more goes out
            return 0
        if transport.get_write_buffer_size() > HIGH_WATER:
            self._blocked = True
            self._kick()
            return 0
        n = len(pending)
        if n == 1:
            transport.write(pending.pop())
        elif n:
            transport.write(b"".join(pending))
            pending.clear()
        return n

    async def _run(self) -> None:
        """Drain a slow peer, write what piled up meanwhile, close if asked; then end."""
        try:
            await self._drain()
            FRAMES_OUT.inc(self._write_pending())
            if self._close is not None:
                await self._close_ws()
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-write
            log.debug("room socket write failed: %s", exc)

    async def _drain(self) -> None:
        """Wait until a slow peer has taken most of what its transport holds.

        Polled: the transport's drain signal belongs to aiohttp's protocol, and only slow
        peers ever get here."""
        while (t := self._writable()) is not None and t.get_write_buffer_size() > LOW_WATER:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_POLL_S)
        self._blocked = False

    async def _close_ws(self) -> None:
        assert self._close is not None
        code, reason = self._close
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason.encode()), CLOSE_TIMEOUT_S
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            if self.transport is not None:
                self.transport.abort()  # a peer that does not read gets no more of our time

    async def wait_closed(self, timeout: float) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
