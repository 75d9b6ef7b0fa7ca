"""Per-socket outbound buffers, one log per room written in passes, and one batched writer
per event loop for the rest: the hot path of fan-out.

Every socket has a bounded buffer (``buffer`` frames, 512 by default). ``push`` never
awaits: it appends an already-framed WebSocket frame and marks the socket dirty. Events are
encoded once per wire format (events.py) and framed once per format (``_framed``), so a
fan-out to ten thousand sockets builds its bytes once, not once per socket.

A room's events go through its ``RoomFanout``, which appends them to the room's log. A
socket "in step" (nothing of its own queued, not slow, not closing) holds only a cursor into
that log; publishing costs nothing per in-step socket. The room writes its in-step sockets
in passes, a chunk of sockets per loop iteration, each socket one ``write`` of the log from
its cursor on (joined once per cursor and wire format, and the cursors of a pass are few),
so an event waits about one pass at most (``PASS_PACE``) and the loop reads between chunks.
A socket with frames of its own (the snapshot, an ack, an error), a slow one and a closing
one are "solo": they take their share of the log and then each event into their own
buffer until a flush has written all they held, and rejoin at the log's end. Either way a
socket's frames go out in the order they were queued for it.

Writing solo sockets: the first ``push`` after a flush schedules the next
``_Flusher.flush``, which writes each dirty socket's pending frames, one ``write`` per
socket: on the next loop iteration, or, after a long flush, once the loop has had twice that
flush's CPU time for everything else (``FLUSH_PACE``). Frames stay one event per WebSocket
frame, and no task wakes per socket per event. A socket whose transport holds more than
``HIGH_WATER`` unsent bytes (the peer reads slowly) is left to its own writer task, which
waits until the transport drains below ``LOW_WATER`` while new frames pile up in the bounded
buffer.

Slow consumers: when a socket's buffer is full (an in-step socket's unwritten share of the
log counts as queued for it), the socket is closed with code
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
from collections.abc import Collection
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
"""After a flush of solo sockets that took ``d`` seconds of CPU, the next one starts
``FLUSH_PACE * d`` after it ended at the earliest (``MAX_FLUSH_WAIT_S`` at most), so a
storm of solo sockets (ten thousand snapshots after a restart) takes at most a third of
the loop's time. CPU time, not wall time: a process that waited for a core during a flush
did no more work in it."""
MAX_FLUSH_WAIT_S = 0.05
PASS_CHUNK = 256
"""In-step sockets a room writes per loop iteration (a few milliseconds of ``write``s on
loopback): the loop reads between chunks."""
PASS_PACE = 1.5
"""A room's next pass starts ``PASS_PACE`` times the last pass's CPU time after the last one
started, at the earliest (``PASS_MAX_GAP_S`` at most): events published meanwhile share one
``write`` per socket, and writing takes at most two thirds of the loop's time unless that
would hold events longer than ``PASS_MAX_GAP_S``. A pass that took longer follows at once."""
PASS_MAX_GAP_S = 0.1


class _Flusher:
    """One per event loop: writes every dirty solo socket's pending frames in one pass, on
    the next iteration, or when the pace allows (``FLUSH_PACE``); events queued meanwhile
    join the next pass, one ``write`` per socket for all of them. Rooms write their in-step
    sockets themselves (``RoomFanout``)."""

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
                 "_flusher", "_started", "_close", "_task", "_closer", "_room", "_solo", "_cursor")

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
        self._room: RoomFanout | None = None
        """The room whose log this socket takes while in step (not ``_solo``)."""
        self._solo = False
        self._cursor = 0
        """While in step: the index of the first of the room's frames not written to it."""

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
        """Queue an event for this socket alone (a solo socket's share of a room event, a
        recovering socket's missed events): ``push`` inlined, the cached frame first."""
        frame = _last[self._slot] if _last[0] is event else None
        if frame is None:
            frame = _framed(event, self.fmt)
        if self._close is not None:
            return False
        if not self._solo and self._room is not None:
            self._room.out_of_step(self)
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
        if not self._solo and self._room is not None:
            self._room.out_of_step(self)
        if len(self._pending) >= self.buffer:
            return self._overflow()
        self._pending.append(frame)
        self._mark()
        return True

    def _mark(self) -> None:
        if not self._dirty and not self._blocked:
            self._dirty = True
            self._flusher.mark(self)

    def _overflow(self) -> bool:
        SLOW_CONSUMERS.inc()
        self._pending.clear()
        self.close_soon(SLOW_CONSUMER, "slow consumer")
        return False

    def close_soon(self, code: int, reason: str) -> None:
        """Close after what is already queued (except for a slow consumer, whose queue was dropped)."""
        if self._close is None:
            if not self._solo and self._room is not None:
                self._room.out_of_step(self)  # its share of the log is queued for it
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
        if self._solo:
            self._rejoin()
        return n

    def _rejoin(self) -> None:
        """Back in step with the room once all it held is written."""
        room = self._room
        if room is not None and not self._pending and not self._blocked and self._close is None:
            room.in_step(self)

    async def _run(self) -> None:
        """Drain a slow peer, write what piled up meanwhile, close if asked; then end."""
        try:
            await self._drain()
            FRAMES_OUT.inc(self._write_pending())
            if self._close is not None:
                await self._close_ws()
            elif self._solo:
                self._rejoin()
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


class RoomFanout:
    """One room's sockets on this node and the room's log: the events published to them
    that some in-step socket has not been written yet (the module docstring). ``publish``
    costs nothing per in-step socket; each in-step socket holds a cursor into the log.

    Passes: the room writes its in-step sockets in member order, ``PASS_CHUNK`` sockets per
    loop iteration, each one ``write`` of everything from its cursor to the end of the log
    (the same bytes for every socket at the same cursor, joined once per wire format). An
    event published during a pass reaches the sockets the pass has not written yet in the
    same pass, and the others in the next one, which starts when this one ends or when the
    pace allows (``PASS_PACE``, ``PASS_MAX_GAP_S``): an event waits at most about one pass,
    and the loop reads between chunks.

    ``members`` is the hub's own set (each member has a ``writer``), so the room holds no
    second reference per socket; ``joined``/``left`` are told of each change to it."""

    __slots__ = ("members", "solo", "log", "base", "limit", "_order", "_pos", "_pass_end",
                 "_pass_started", "_pass_cpu", "_scheduled", "_joined", "_loop")

    def __init__(self, members: Collection[_HasWriter]) -> None:
        self.members = members
        self.solo: set[SocketWriter] = set()
        self.log: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])
        """The log's frames by writer slot: [1] JSON, [2] MessagePack ([0] unused)."""
        self.base = 0
        """The index of the log's first frame among every frame the room has published."""
        self.limit = 1 << 30
        """The smallest buffer of any socket that joined: an in-step socket overflows there."""
        self._order: list[_HasWriter] | None = None
        """The members of the pass under way, in the order it writes them."""
        self._pos = 0
        self._pass_end = 0
        """The end of the log when the pass under way started."""
        self._pass_started = -1e9
        self._pass_cpu = 0.0
        """The CPU time the pass under way (or the last one) has taken so far."""
        self._scheduled = False
        self._joined: dict[int, tuple[bytes, bytes, bytes]] = {}
        """The log from a cursor to its end, joined per format, while the end stays put."""
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def end(self) -> int:
        return self.base + len(self.log[1])

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every socket of the room; ``encodable(event)`` was True."""
        if not self.members:
            return
        log = self.log
        if len(log[1]) >= self.limit:  # a socket may be this far behind: those that are, their own rule
            self._lagging_go_solo()
        for writer in self.solo:
            writer.push_event(event)
        log[1].append(_framed(event, WireFormat.JSON))
        log[2].append(_framed(event, WireFormat.MSGPACK))
        if self._joined:
            self._joined.clear()
        if not self._scheduled and self._order is None:
            self._schedule()

    def joined(self, writer: SocketWriter) -> None:
        """``writer``'s member was added: in step from the end of the log, unless it holds
        frames of its own (its snapshot, written first)."""
        writer._room = self
        self.limit = min(self.limit, writer.buffer)
        writer._cursor = self.end
        if writer._pending or writer._blocked or writer._close is not None:
            writer._solo = True
            self.solo.add(writer)
        else:
            writer._solo = False

    def left(self, writer: SocketWriter) -> None:
        """``writer``'s member was removed: what was published while it was a member stays
        queued for it; from now on it takes only its own frames."""
        if writer._room is not self:
            return
        if not writer._solo:
            self.out_of_step(writer)
        self.solo.discard(writer)
        writer._room = None
        writer._solo = False

    def out_of_step(self, writer: SocketWriter) -> None:
        """``writer`` goes solo: its share of the log is copied into its own buffer."""
        writer._solo = True
        self.solo.add(writer)
        share = self._share(writer)
        writer._cursor = self.end
        if share:
            writer._pending.extend(share)
            writer._mark()

    def in_step(self, writer: SocketWriter) -> None:
        """Back in step: a solo socket took every event as it was published, so it is
        at the end of the log."""
        writer._cursor = self.end
        writer._solo = False
        self.solo.discard(writer)

    def _share(self, writer: SocketWriter) -> list[bytes]:
        return self.log[writer._slot][max(writer._cursor - self.base, 0):]

    def _lagging_go_solo(self) -> None:
        """Each in-step socket with a full buffer's worth of the log unwritten goes solo;
        the log then starts at the lowest cursor left, so the next look is a buffer away."""
        end = self.end
        behind, low = end - self.limit, end
        for member in list(self.members):
            writer = member.writer
            if writer._solo:
                continue
            if writer._cursor <= behind:
                self.out_of_step(writer)
            elif writer._cursor < low:
                low = writer._cursor
        self._trim(low)

    def _trim(self, upto: int) -> None:
        """Drop the log's frames before ``upto``: every in-step socket is there or later."""
        n = upto - self.base
        if n > 0:
            del self.log[1][:n], self.log[2][:n]
            self.base = upto
            self._joined.clear()

    # --- passes ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._scheduled = True
        gap = min(self._pass_cpu * PASS_PACE, PASS_MAX_GAP_S)
        wait = self._pass_started + gap - time.monotonic()
        if wait > 0:
            loop.call_later(wait, self._run_pass)
        else:
            loop.call_soon(self._run_pass)

    def _run_pass(self) -> None:
        """The next ``PASS_CHUNK`` sockets of the pass under way (a new pass if none is)."""
        self._scheduled = False
        order = self._order
        if order is None:
            if not self.log[1]:
                return
            order = self._order = list(self.members)
            self._pos, self._pass_end, self._pass_started = 0, self.end, time.monotonic()
            self._pass_cpu = 0.0
        started = time.thread_time()
        stop = min(self._pos + PASS_CHUNK, len(order))
        FRAMES_OUT.inc(self._write(order, self._pos, stop))
        self._pos = stop
        self._pass_cpu += time.thread_time() - started
        if stop < len(order):
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._run_pass)
            return
        self._order = None
        self._trim(self._pass_end)  # every in-step socket is at the pass's end or later
        if self.log[1]:
            self._schedule()

    def _write(self, order: list[_HasWriter], start: int, stop: int) -> int:
        """Write ``order[start:stop]`` what each lacks; a slow one goes solo with its share
        queued, and its task drains it. The number of frames written."""
        end, base, joined = self.end, self.base, self._joined
        log = self.log
        written = 0
        for i in range(start, stop):
            writer = order[i].writer
            cursor = writer._cursor
            if writer._solo or writer._room is not self or cursor >= end:
                continue
            transport = writer.transport
            if transport is None or transport.is_closing() or writer.ws.closed:
                writer._cursor = end  # closing: nothing more goes out
                continue
            if transport.get_write_buffer_size() > HIGH_WATER:
                writer._blocked = True
                self.out_of_step(writer)
                writer._kick()
                continue
            data = joined.get(cursor)
            if data is None:
                at = max(cursor - base, 0)
                data = joined[cursor] = (b"", b"".join(log[1][at:]), b"".join(log[2][at:]))
            transport.write(data[writer._slot])
            writer._cursor = end
            written += end - cursor
        return written


class _HasWriter(Protocol):
    """A room member as the fan-out sees it (hub.Member)."""

    @property
    def writer(self) -> SocketWriter: ...
