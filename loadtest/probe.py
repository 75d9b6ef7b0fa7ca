"""Probe connections: parse every event and time chat from publish to delivery.

A probe reads eagerly (an asyncio protocol, not the sinks' lazy rounds), decodes every text
frame, and for each ``chat.message`` whose text starts with ``t=<monotonic_ns>`` (see
``drain.chat_frame``) records ``now - t``: the time from the chatter's send to this
socket's read, through the server's parse, rate limit, publish and fan-out. It also checks
that ``seq`` grows by one per event (gaps are counted, not fatal).

With ``socketio`` it speaks Socket.IO (Engine.IO 4 over WebSocket) to the Socket.IO
reference: it joins the default namespace, answers pings, and reads the event object out of
each ``42["event",{...}]`` frame (and acks out of ``43N[{...}]``).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter as Tally
from typing import Any, cast

from loadtest import wsframes


class Probe(asyncio.Protocol):
    def __init__(self, host: str, target: str, socketio: bool = False) -> None:
        self.host = host
        self.target = target
        self.socketio = socketio
        self.key = wsframes.new_key()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.reader = wsframes.FrameReader()
        self._head = b""
        self.recording = False
        self.samples_ns: list[int] = []
        self.to_server_s: list[float] = []
        """Chatter's wall-clock send time to the event's ``ts`` (the server's publish time)."""
        self.chat_events = 0
        self.events: Tally[str] = Tally()
        self.last_seq: int | None = None
        self.gaps = 0
        self.close_code: int | None = None

    # --- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(wsframes.handshake_request(self.host, self.target, self.key))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.opened.done():
            self._head += data
            try:
                answer = wsframes.parse_handshake_response(self._head, self.key)
            except wsframes.HandshakeError as exc:
                self.opened.set_exception(exc)
                self._abort()
                return
            if answer is None:
                return
            self.opened.set_result(None)
            if self.socketio:
                self._write(wsframes.client_frame(wsframes.OP_TEXT, b"40"))
            data = answer.rest
        try:
            frames = self.reader.feed(data)
        except wsframes.ProtocolError:
            self._abort()
            return
        for frame in frames:
            self._frame(frame, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)

    # --- frames -------------------------------------------------------------------------

    def _frame(self, frame: wsframes.Frame, now: int) -> None:
        if frame.opcode == wsframes.OP_TEXT and self.socketio:
            self._socketio(frame.payload, now)
        elif frame.opcode == wsframes.OP_TEXT:
            self._event(json.loads(frame.payload), now)
        elif frame.opcode == wsframes.OP_PING:
            self._write(wsframes.client_frame(wsframes.OP_PONG, frame.payload))
        elif frame.opcode == wsframes.OP_CLOSE:
            self.close_code = frame.close_code
            self._write(wsframes.client_frame(wsframes.OP_CLOSE, wsframes.close_payload(1000)))
            self._abort()

    def _socketio(self, payload: bytes, now: int) -> None:
        """One Engine.IO packet: ``2`` ping, ``42[name, event]``, ``43N[ack]``; the rest
        (open, namespace connect) carries no event."""
        if payload == b"2":
            self._write(wsframes.client_frame(wsframes.OP_TEXT, b"3"))
        elif payload.startswith(b"42"):
            self._event(json.loads(payload[2:])[1], now)
        elif payload.startswith(b"43"):
            body = payload[2:]
            self._event(json.loads(body[body.index(b"["):])[0], now)

    def _event(self, event: dict[str, Any], now: int) -> None:
        kind = event.get("type", "?")
        self.events[kind] += 1
        seq = event.get("seq")
        if isinstance(seq, int) and kind not in ("ack", "error"):
            if kind != "snapshot" and self.last_seq is not None and seq != self.last_seq + 1:
                self.gaps += 1
            self.last_seq = seq
        if kind != "chat.message":
            return
        self.chat_events += 1
        data = event.get("data", {})
        text = data.get("text", "")
        if self.recording and text.startswith("t="):
            fields = text.split(" ", 2)
            self.samples_ns.append(now - int(fields[0][2:]))
            if fields[1].startswith("w=") and isinstance(data.get("ts"), int | float):
                self.to_server_s.append(data["ts"] - float(fields[1][2:]))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_probe(host: str, port: int, target: str, timeout: float = 30.0, socketio: bool = False) -> Probe:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, probe = await loop.create_connection(lambda: Probe(f"{host}:{port}", target, socketio), host, port)
        await probe.opened
    return probe


def percentile(sorted_values: list[int], q: float) -> int | None:
    """Nearest-rank percentile of an already sorted list (``q`` in 0..100)."""
    if not sorted_values:
        return None
    rank = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]
