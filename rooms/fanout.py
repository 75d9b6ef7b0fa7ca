"""Per-socket outbound buffers and writers: the hot path of room fan-out.

Every socket has a bounded buffer (``buffer`` frames, 512 by default) and one writer task.
``push`` never awaits: it appends an already-encoded frame (events are encoded once per
wire format, see events.py) and wakes the writer. The writer takes everything pending and
sends it back to back: aiohttp writes each frame straight into the transport and only
awaits ``drain`` once more than its writer limit (64 KiB) is buffered, so a batch costs one
wake-up of the writer, not one per frame, and the kernel sees as few writes as the
transport can manage. Frames are not joined into one WebSocket message, so the protocol
stays one event per frame.

Slow consumers: when a socket's buffer is full, the socket is closed with code
``SLOW_CONSUMER`` (4008) and counted in ``nal_ws_slow_consumer_total``; the pending frames
are dropped (the client reconnects with ``since``/``epoch`` and recovers from history). The
publisher and the other sockets never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from aiohttp import web

from rooms.events import Event
from rooms.metrics import FRAMES_OUT, SLOW_CONSUMERS
from rooms.protocol import WireFormat, encode

log = logging.getLogger(__name__)

GOING_AWAY = 1001
RESTARTING = 1012
TOO_BIG = 1009
NOT_ADMITTED = 4001
BANNED = 4003
SLOW_CONSUMER = 4008
CLOSE_TIMEOUT_S = 2.0


class SocketWriter:
    """One socket's outbound buffer and writer task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        fmt: WireFormat,
        buffer: int = 512,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.fmt = fmt
        self.buffer = buffer
        self._pending: deque[str | bytes] = deque()
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self._close is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="room-socket-writer")

    def push_event(self, event: Event) -> bool:
        frame = event.json_text if self.fmt is WireFormat.JSON else event.msgpack_bytes
        return self.push(frame)

    def push_frame(self, frame: dict[str, Any]) -> bool:
        return self.push(encode(frame, self.fmt))

    def push(self, frame: str | bytes) -> bool:
        """Queue one encoded frame; False (and the socket closing) when it cannot be queued."""
        if self._close is not None:
            return False
        if len(self._pending) >= self.buffer:
            SLOW_CONSUMERS.inc()
            self._pending.clear()
            self.close_soon(SLOW_CONSUMER, "slow consumer")
            return False
        self._pending.append(frame)
        self._wake.set()
        return True

    def close_soon(self, code: int, reason: str) -> None:
        """Close after what is already queued (except for a slow consumer, whose queue was dropped)."""
        if self._close is None:
            self._close = (code, reason)
            self._wake.set()
            if code == SLOW_CONSUMER and self._task is not None:
                self._task.cancel()  # it may be stuck in drain; the close below does not wait for it
                self._closer = asyncio.create_task(self._close_ws())

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._flush()
                if self._close is not None:
                    await self._close_ws()
                    return
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-write
            log.debug("room socket write failed: %s", exc)

    async def _flush(self) -> None:
        pending, ws, sent = self._pending, self.ws, 0
        try:
            while pending:
                frame = pending.popleft()
                if isinstance(frame, str):
                    await ws.send_str(frame)
                else:
                    await ws.send_bytes(frame)
                sent += 1
        finally:
            FRAMES_OUT.inc(sent)

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
