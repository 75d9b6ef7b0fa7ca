"""An open room socket after the upgrade, without aiohttp's request machinery.

aiohttp upgrades the socket (``WebSocketResponse.prepare``: the handshake, the refusals
before a member joins); then wsio.py takes the connection away from aiohttp's
``RequestHandler`` and hands the transport to one :class:`RoomConnection`. An idle socket
then holds this object, its ``SocketWriter`` and ``Member``, aiohttp's frame parser and
the transport: no request, headers, response, queue or task (issue 17: aiohttp's
per-connection machinery was two thirds of an idle socket's memory).

It keeps what ``WebSocketResponse`` did for room sockets (``autoclose``, ``autoping``,
``heartbeat``, no compression), step for step:

- frames are parsed by aiohttp's own ``WebSocketReader`` (the pure-Python build, which takes
  any queue), so oversize (1009), bad UTF-8 (1007) and protocol errors (1002) are its;
- messages are read in order as ``receive()`` read them: a task runs only while there is
  something to read (an op awaits its store or rate limiter), and ends when the buffer is
  empty; parsing stalls and reading pauses at the same marks as ``WebSocketDataQueue``;
- a ping is answered with a pong, a pong is read and dropped, a close frame is answered
  with a close (1000) and ends the socket, a parser error closes with its code;
- the heartbeat: a ping ``heartbeat_s`` after the last bytes received; no bytes within
  half of that after the ping and the socket is closed (1006);
- ``close(code, message)`` sends the close frame, waits for it to be written and closes.

What ends the socket ends it once: ``on_end`` (leave the room, release the caps) runs after
the transport closes, as aiohttp's handler ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import weakref
from math import ceil
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMessage, WSMsgType
from aiohttp.http_websocket import WebSocketError

log = logging.getLogger(__name__)

LIMIT = 2 * 2**16
"""Queued bytes above which parsing stalls and reading pauses (``WebSocketDataQueue``'s)."""
OVERHEAD = 128
"""Counted per queued message, as aiohttp counts it."""
CEIL_THRESHOLD = 5.0
"""Timeouts longer than this are rounded up to a whole second (aiohttp's ceil threshold)."""

_OPEN = (WSMsgType.TEXT, WSMsgType.BINARY)


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final, unmasked server control frame (RFC 6455 5.5): payload at most 125 bytes."""
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, message: bytes = b"") -> bytes:
    """A close frame; a reason past 123 bytes is cut at a character's start (RFC 6455 5.5:
    a control frame's payload is at most 125 bytes, and the reason is UTF-8)."""
    if len(message) > 123:
        message = message[:123].decode("utf-8", "ignore").encode()
    return control_frame(WSMsgType.CLOSE, code.to_bytes(2, "big") + message)


def _when(now: float, timeout: float) -> float:
    when = now + timeout
    return float(ceil(when)) if timeout > CEIL_THRESHOLD else when


class Serving(Protocol):
    """What serves a room connection (sockethandler.SocketHandler)."""

    async def on_message(self, conn: RoomConnection, msg: WSMessage) -> None:
        """A data frame or an error, as the handler's read loop got them."""

    async def on_end(self, conn: RoomConnection) -> None:
        """The read loop ended (what followed it in the handler)."""


class RoomConnection:
    """One open room socket: protocol for its transport, queue for its frame parser."""

    __slots__ = (
        "transport",
        "outer",
        "parser",
        "serving",
        "hub",
        "member",
        "key",
        "heartbeat",
        "_loop",
        "_buffer",
        "_size",
        "_limit",
        "_stalled_reader",
        "_eof",
        "_exception",
        "_task",
        "closed",
        "closing",
        "close_code",
        "_read_paused",
        "_write_paused",
        "_drained",
        "_hb_last",
        "_hb_key",
        "_ping_at",
        "_waiting_close",
        "_ended",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        outer: Any,
        serving: Serving,
        hub: Any,
        member: Any,
        key: str | None,
        heartbeat: float,
        max_frame: int,
        heartbeat_when: float,
    ) -> None:
        from aiohttp._websocket.reader_py import WebSocketReader  # takes any queue

        self.transport = transport
        self.outer = outer
        """The protocol the transport had (our connection guard): told when the connection
        is lost, so it counts it closed."""
        self.serving = serving
        self.hub = hub
        self.member = member
        self.key = key
        """The caps' key, released when the socket ends (None: nothing to release)."""
        self.heartbeat = heartbeat
        self._loop = asyncio.get_running_loop()
        self._buffer: list[tuple[WSMessage, int]] = []
        self._size = 0
        self._limit = LIMIT
        self._stalled_reader: Any = None
        self._eof = False
        self._exception: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.closing = False
        self.close_code: int | None = None
        self._read_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._hb_last = heartbeat_when - heartbeat
        """When bytes last came in (loop time): the next ping is due ``heartbeat`` after."""
        self._hb_key = 0
        """The heartbeat wheel's slot this socket is filed in; 0 while it is not."""
        self._ping_at = 0.0
        """When the ping that awaits an answer went out; 0.0 while none does."""
        self._waiting_close: asyncio.Future[None] | None = None
        self._ended = False
        self.parser = WebSocketReader(self, max_frame, False, True)  # type: ignore[arg-type]
        if heartbeat_when:
            _wheel(self._loop).file(self, heartbeat_when)

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        pass

    def data_received(self, data: bytes) -> None:
        if self.heartbeat and not self.closed and not self.closing:
            self._hb_last = now = self._loop.time()
            if not self._hb_key:
                _wheel(self._loop).file(self, _when(now, self.heartbeat))
        self.parser.feed_data(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_heartbeat()
        self._release_drain()
        self.parser.feed_eof()
        outer, self.outer = self.outer, None
        if outer is not None:
            outer.connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    # --- the parser's queue (WebSocketDataQueue's interface) -------------------------------

    def feed_data(self, msg: WSMessage, size: int) -> None:
        self._size += size + OVERHEAD
        self._buffer.append((msg, size))
        if self._size > self._limit and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException, cause: BaseException | None = None) -> None:
        self._eof = True
        self._exception = exc
        self._wake()

    def _read(self) -> WSMessage | None:
        """The next message, None when there is none yet; raises as ``read()`` raised."""
        if self._buffer:
            msg, size = self._buffer.pop(0)
            self._size -= size + OVERHEAD
            if self._stalled_reader is not None and self._size <= self._limit // 2:
                reader = self._stalled_reader()
                if reader is not None:
                    reader.feed_data(b"")
            if self._stalled_reader is None and self._size < self._limit and self._read_paused:
                self._read_paused = False
                self.transport.resume_reading()
            return msg
        if self._exception is not None:
            raise self._exception
        if self._eof:
            raise _Eof
        return None

    # --- reading: receive() and the handler's loop ------------------------------------------

    def _wake(self) -> None:
        if self._waiting_close is not None:
            self._take_close()
        elif self._task is None and not self._ended:
            self._task = asyncio.create_task(self._run(), name="room-socket")

    async def _run(self) -> None:
        ends = True  # the loop ended (a close, or an error out of an op, as the handler's did)
        try:
            while True:
                msg = await self._receive()
                if msg is None:
                    ends = False
                    return  # nothing to read: the next frame starts a task again
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                await self.serving.on_message(self, msg)
        finally:
            self._task = None
            if ends:
                await self._end()

    async def _receive(self) -> WSMessage | None:
        while True:
            if self.closed:
                return _CLOSED_MESSAGE
            if self.closing:
                return _CLOSING_MESSAGE
            try:
                msg = self._read()
            except _EofType:
                self.close_code = WSCloseCode.OK
                await self.close()
                return _CLOSED_MESSAGE
            except WebSocketError as exc:
                self.close_code = exc.code
                await self.close(code=exc.code)
                return WSMessage(WSMsgType.ERROR, exc, None)
            except Exception as exc:
                self._exception = exc
                self._set_closing(WSCloseCode.ABNORMAL_CLOSURE)
                await self.close()
                return WSMessage(WSMsgType.ERROR, exc, None)
            if msg is None or msg.type in _OPEN:
                return msg
            if msg.type is WSMsgType.CLOSE:
                self._set_closing(msg.data)
                if not self.closed:
                    await self.close(drain=False)
                return msg
            if msg.type is WSMsgType.PING:
                self._write(control_frame(WSMsgType.PONG, msg.data))
            # a pong: read, nothing else

    def _set_closing(self, code: int) -> None:
        self.closing = True
        self.close_code = code
        self._cancel_heartbeat()

    async def _end(self) -> None:
        """The handler's loop ended: what followed it, once."""
        if self._ended:
            return
        self._ended = True
        try:
            await self.serving.on_end(self)
        finally:
            self.transport.close()

    # --- writing and closing ---------------------------------------------------------------

    def _write(self, frame: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(frame)

    async def _drain(self) -> None:
        if self._write_paused and not self.transport.is_closing():
            self._drained = self._loop.create_future()
            await self._drained

    def _release_drain(self) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        """Send a close frame and close, as ``WebSocketResponse.close``."""
        if self.closed:
            return False
        self.closed = True
        self._cancel_heartbeat()
        try:
            if self.transport.is_closing():
                raise ConnectionResetError("Cannot write to closing transport")
            self.transport.write(close_frame(code, message))
            if drain:
                await self._drain()
        except (asyncio.CancelledError, TimeoutError):
            self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
            raise
        except Exception as exc:
            self._exception = exc
            self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
            return True
        if self._task is None and not self.closing:  # the loop waits: it reads "closing"
            self._set_closing(WSCloseCode.OK)
            self._code_close_transport(self.close_code or WSCloseCode.OK)
            self._task = asyncio.create_task(self._end(), name="room-socket-end")
            return True
        if self.closing:
            self.transport.close()
            return True
        return await self._wait_close()

    async def _wait_close(self) -> bool:
        """An op is running: wait for the peer's close frame, as aiohttp's close() read it."""
        self._waiting_close = self._loop.create_future()
        try:
            self._take_close()
            async with asyncio.timeout(10.0):
                await self._waiting_close
        except asyncio.CancelledError:
            self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
            raise
        except Exception as exc:
            self._exception = exc
            self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
        finally:
            self._waiting_close = None
        return True

    def _take_close(self) -> None:
        waiter = self._waiting_close
        assert waiter is not None
        try:
            while (msg := self._read()) is not None:
                if msg.type is WSMsgType.CLOSE:
                    self._code_close_transport(msg.data)
                    waiter.set_result(None)
                    return
        except Exception as exc:  # noqa: BLE001 - aiohttp's close() ends on any
            self._exception = exc
            self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
            if not waiter.done():
                waiter.set_result(None)

    def _code_close_transport(self, code: int) -> None:
        self.close_code = code
        self.transport.close()

    # --- the heartbeat (WebSocketResponse's, on the loop's one wheel) ---------------------

    def _heartbeat_due(self, now: float) -> float:
        """The wheel's turn (``now`` at least the time this socket was filed for): ping,
        or close when the ping went unanswered; when to look again, 0.0 for never."""
        if self.closed or self.closing or self.transport.is_closing():
            return 0.0
        if self._ping_at:
            if self._hb_last < self._ping_at:  # nothing came in since the ping
                deadline = _when(self._ping_at, self.heartbeat / 2.0)
                if now < deadline:
                    return deadline
                self._pong_not_received()
                return 0.0
            self._ping_at = 0.0
        due = _when(self._hb_last, self.heartbeat)
        if now < due:
            return due
        self._ping_at = now
        self._write(control_frame(WSMsgType.PING))
        return _when(now, self.heartbeat / 2.0)

    def _pong_not_received(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cancel_heartbeat()
        self._code_close_transport(WSCloseCode.ABNORMAL_CLOSURE)
        self._exception = TimeoutError(f"No PONG received after {self.heartbeat / 2.0} seconds")
        if self._task is None and not self.closing and not self._ended:  # the loop read this
            error = WSMessage(WSMsgType.ERROR, self._exception, None)
            self._task = asyncio.create_task(self._last(error), name="room-socket")

    async def _last(self, msg: WSMessage) -> None:
        try:
            await self.serving.on_message(self, msg)
        finally:
            self._task = None
        await self._end()

    def _cancel_heartbeat(self) -> None:
        self._ping_at = 0.0
        if self._hb_key:
            _wheel(self._loop).drop(self)


HEARTBEAT_RESOLUTION_S = 0.05
"""The heartbeat wheel's slot width: pings and pong deadlines are at most this late."""


class _Heartbeats:
    """Every room socket's heartbeat on one event loop, on one timer: sockets filed in slots
    by the time they are due (``HEARTBEAT_RESOLUTION_S`` wide), the timer set for the
    earliest slot. Bytes coming in only note the time; a socket is looked at when its slot
    comes, and filed again for its next ping or its pong deadline. Ten thousand sockets
    make no timer, handle or callback object each per ping (which a full garbage
    collection would traverse once they aged), and a socket that chats makes none at all."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, list[RoomConnection]] = {}
        self.keys: list[int] = []
        """The slots' keys, a heap."""
        self.timer: asyncio.TimerHandle | None = None
        self.timer_key = 0

    def file(self, conn: RoomConnection, when: float) -> None:
        key = max(ceil(when / HEARTBEAT_RESOLUTION_S), 1)
        conn._hb_key = key
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = []
            heapq.heappush(self.keys, key)
            if self.timer is None or key < self.timer_key:
                self._set_timer(key)
        slot.append(conn)

    def drop(self, conn: RoomConnection) -> None:
        slot = self.slots.get(conn._hb_key)
        conn._hb_key = 0
        if slot is not None:
            with contextlib.suppress(ValueError):
                slot.remove(conn)

    def _set_timer(self, key: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_key = key
        self.timer = self.loop.call_at(key * HEARTBEAT_RESOLUTION_S, self._tick)

    def _tick(self) -> None:
        self.timer = None
        keys, slots = self.keys, self.slots
        last = ceil(self.loop.time() / HEARTBEAT_RESOLUTION_S)
        while keys and keys[0] <= last:
            key = heapq.heappop(keys)
            now = max(self.loop.time(), key * HEARTBEAT_RESOLUTION_S)
            for conn in slots.pop(key, ()):
                if conn._hb_key != key:
                    continue
                conn._hb_key = 0
                when = conn._heartbeat_due(now)
                if when and not conn._hb_key:
                    self.file(conn, when)
        if keys and self.timer is None:
            self._set_timer(keys[0])


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Heartbeats] = (
    weakref.WeakKeyDictionary()
)


def _wheel(loop: asyncio.AbstractEventLoop) -> _Heartbeats:
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = _Heartbeats(loop)
    return wheel


class _EofType(Exception):
    """The peer's stream ended (aiohttp's ``EofStream``)."""


_Eof = _EofType()
_CLOSED_MESSAGE = WSMessage(WSMsgType.CLOSED, None, None)
_CLOSING_MESSAGE = WSMessage(WSMsgType.CLOSING, None, None)
