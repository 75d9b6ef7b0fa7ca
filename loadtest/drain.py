"""Sink and chatter connections, many per worker process, drained by one epoll loop.

A worker process opens its share of room sockets (the handshake on a plain asyncio loop),
then leaves asyncio and runs a bare ``select.epoll`` loop: each round it reads every readable
socket once into one shared buffer and counts ``"type":"chat.message"`` in the raw bytes
(``ByteTally``: no frame parsing, no JSON), then sleeps until the next round. Reading in
rounds (``read_interval``, 0.2 s by default) lets the kernel gather several frames per
``recv``, so ten thousand sockets cost a few tens of thousands of system calls a second.
Latency is not measured here (the probes do it, reading eagerly), so the lazy read costs
nothing in accuracy; the kernel's receive buffer (128 KiB by default) holds a round easily.

Chatters are sinks that also send ``chat.send`` every ``chat_interval`` seconds once the
``go`` event is set, with their send time in the text: ``t=<time.monotonic_ns()>``.
CLOCK_MONOTONIC is one clock for every process on the machine, so probes in another
process can subtract it.

Counters live in a shared array (``Counter`` names the slots) that the parent reads.

A connection speaks our room protocol, or Socket.IO's (``ConnSpec.socketio``, for the
Socket.IO reference): then it joins the default namespace (``40``) once the WebSocket is open,
sends ``chat.send`` as a Socket.IO event with an ack id (``42N["chat.send",{...}]``), and
answers Engine.IO's pings (a one-byte text frame ``2``) with ``3``. The events it counts carry
the same ``"type":"chat.message"`` in their JSON, so counting is the same.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import select
import socket
import time
from collections import Counter as Tally
from dataclasses import dataclass
from typing import Any

from loadtest import wsframes

CHAT_PATTERN = b'"type":"chat.message"'
ACK_PATTERN = b'"type":"ack"'
ERROR_PATTERN = b'"type":"error"'
PONG = wsframes.client_frame(wsframes.OP_PONG, b"")
SIO_CONNECT = wsframes.client_frame(wsframes.OP_TEXT, b"40")
SIO_PING = b"\x81\x012"  # an unmasked server text frame of one byte, "2"
SIO_PONG = wsframes.client_frame(wsframes.OP_TEXT, b"3")


class Counter(enum.IntEnum):
    """Slots of a worker's shared counter array."""

    CONNECTED = 0
    FAILED = 1
    CHAT_EVENTS = 2
    BYTES = 3
    SENT = 4
    ACKS = 5
    ERRORS = 6
    CLOSED = 7
    PINGS = 8
    ROUNDS = 9


N_COUNTERS = len(Counter)


@dataclass(frozen=True)
class ConnSpec:
    host: str
    port: int
    target: str
    """Path and query of the room socket, e.g. ``/ws/rooms/abc?token=t``."""
    chatter: int = -1
    """Index of the chatter (>= 0), or -1 for a sink that only drains."""
    socketio: bool = False
    """Speak Socket.IO (Engine.IO 4 over WebSocket) instead of our room protocol."""


@dataclass(frozen=True)
class WorkerPlan:
    conns: tuple[ConnSpec, ...]
    chat_interval: float = 1.6
    read_interval: float = 0.2
    text_bytes: int = 64
    connect_concurrency: int = 64
    connect_timeout: float = 30.0


class Conn:
    __slots__ = ("spec", "sock", "tally", "acks", "errors", "next_send", "sent")

    def __init__(self, spec: ConnSpec, sock: socket.socket) -> None:
        self.spec = spec
        self.sock = sock
        self.tally = wsframes.ByteTally(CHAT_PATTERN)
        self.acks = wsframes.ByteTally(ACK_PATTERN) if spec.chatter >= 0 else None
        self.errors = wsframes.ByteTally(ERROR_PATTERN) if spec.chatter >= 0 else None
        self.next_send = 0.0
        self.sent = 0


# --- connecting ---------------------------------------------------------------------------


async def _open(spec: ConnSpec, timeout: float) -> tuple[socket.socket, bytes]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (spec.host, spec.port))
            key = wsframes.new_key()
            await loop.sock_sendall(sock, wsframes.handshake_request(f"{spec.host}:{spec.port}", spec.target, key))
            data = b""
            while (answer := wsframes.parse_handshake_response(data, key)) is None:
                chunk = await loop.sock_recv(sock, 65536)
                if not chunk:
                    raise wsframes.HandshakeError("connection closed during the handshake")
                data += chunk
            if spec.socketio:
                await loop.sock_sendall(sock, SIO_CONNECT)
    except BaseException:
        sock.close()
        raise
    return sock, answer.rest


async def _open_all(plan: WorkerPlan, counters: Any, errors: Tally[str]) -> list[tuple[Conn, bytes]]:
    gate = asyncio.Semaphore(plan.connect_concurrency)
    opened: list[tuple[Conn, bytes]] = []

    async def one(spec: ConnSpec) -> None:
        async with gate:
            try:
                sock, rest = await _open(spec, plan.connect_timeout)
            except (OSError, TimeoutError, wsframes.ProtocolError) as exc:
                counters[Counter.FAILED] += 1
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                return
        opened.append((Conn(spec, sock), rest))
        counters[Counter.CONNECTED] += 1

    await asyncio.gather(*(one(spec) for spec in plan.conns))
    return opened


# --- the drain loop -----------------------------------------------------------------------


def chat_frame(chatter: int, n: int, text_bytes: int, socketio: bool = False) -> bytes:
    text = f"t={time.monotonic_ns()} w={time.time():.6f} c={chatter} n={n} "
    text += "x" * max(0, text_bytes - len(text))
    if socketio:
        body = "42" + str(n) + json.dumps(["chat.send", {"id": f"{chatter}-{n}", "text": text}], separators=(",", ":"))
    else:
        body = json.dumps({"op": "chat.send", "id": f"{chatter}-{n}", "text": text}, separators=(",", ":"))
    return wsframes.client_frame(wsframes.OP_TEXT, body.encode())


class Drainer:
    """The epoll loop over one worker's connections."""

    def __init__(self, plan: WorkerPlan, counters: Any, go: Any, stop: Any) -> None:
        self.plan = plan
        self.counters = counters
        self.go = go
        self.stop = stop
        self.conns: dict[int, Conn] = {}
        self.chatters: list[Conn] = []
        self.close_codes: Tally[int] = Tally()
        self.buf = bytearray(1 << 18)
        self.epoll = select.epoll()
        self.chat_events = 0
        self.bytes = 0

    def add(self, conn: Conn, first: bytes) -> None:
        fd = conn.sock.fileno()
        self.conns[fd] = conn
        if conn.spec.chatter >= 0:
            self.chatters.append(conn)
        self.epoll.register(fd, select.EPOLLIN)
        if first:
            self.buf[:len(first)] = first
            self._count(conn, len(first))

    def _count(self, conn: Conn, n: int) -> None:
        buf = self.buf
        events, ping = conn.tally.feed(buf, n)
        self.chat_events += events
        self.bytes += n
        if conn.acks is not None and conn.errors is not None:
            self.counters[Counter.ACKS] += conn.acks.feed(buf, n)[0]
            self.counters[Counter.ERRORS] += conn.errors.feed(buf, n)[0]
        if ping:
            self.counters[Counter.PINGS] += 1
            self._send(conn, PONG)
        if conn.spec.socketio and buf.find(SIO_PING, 0, n) >= 0:
            self.counters[Counter.PINGS] += 1
            self._send(conn, SIO_PONG)
        if conn.tally.close_code is not None:
            self._drop(conn, conn.tally.close_code)

    def _send(self, conn: Conn, data: bytes) -> None:
        try:
            conn.sock.send(data)
        except OSError:
            self._drop(conn, 1006)

    def _drop(self, conn: Conn, code: int) -> None:
        fd = conn.sock.fileno()
        if self.conns.pop(fd, None) is None:
            return
        self.close_codes[code] += 1
        self.counters[Counter.CLOSED] += 1
        self.epoll.unregister(fd)
        if code != 1006:
            try:
                conn.sock.send(wsframes.client_frame(wsframes.OP_CLOSE, wsframes.close_payload(1000)))
            except OSError:
                pass
        conn.sock.close()
        if conn in self.chatters:
            self.chatters.remove(conn)

    def read_round(self) -> None:
        buf = self.buf
        for fd, _ in self.epoll.poll(0, max(1, len(self.conns))):
            conn = self.conns.get(fd)
            if conn is None:
                continue
            try:
                n = conn.sock.recv_into(buf)
            except BlockingIOError:
                continue
            except OSError:
                self._drop(conn, 1006)
                continue
            if n == 0:
                self._drop(conn, conn.tally.close_code or 1006)
                continue
            self._count(conn, n)

    def chat_round(self, now: float) -> None:
        plan = self.plan
        for conn in list(self.chatters):
            if now >= conn.next_send:
                conn.next_send += plan.chat_interval
                if conn.next_send < now:  # fell behind (a long round): skip, stay under the limit
                    conn.next_send = now + plan.chat_interval
                self._send(conn, chat_frame(conn.spec.chatter, conn.sent, plan.text_bytes, conn.spec.socketio))
                conn.sent += 1
                self.counters[Counter.SENT] += 1

    def publish(self) -> None:
        self.counters[Counter.CHAT_EVENTS] = self.chat_events
        self.counters[Counter.BYTES] = self.bytes
        self.counters[Counter.ROUNDS] += 1

    def run(self, go_at: Any) -> None:
        """Read every ``read_interval``; in between, send chat when it is due."""
        plan = self.plan
        chatting = False
        next_read = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_read:
                self.read_round()
                self.publish()
                next_read = max(next_read + plan.read_interval, now)
            if not chatting and self.go.is_set():
                chatting = self._start_chat(go_at.value)
            if chatting:
                self.chat_round(time.monotonic())
            wake = next_read
            if chatting and self.chatters:
                wake = min(wake, min(c.next_send for c in self.chatters))
            rest = wake - time.monotonic()
            if rest > 0:
                time.sleep(rest)
        for conn in list(self.conns.values()):
            conn.sock.close()
        self.epoll.close()

    def _start_chat(self, base: float) -> bool:
        """Spread the chatters' phases over one interval (golden-ratio steps), from ``base``."""
        for conn in self.chatters:
            conn.next_send = base + (conn.spec.chatter * 0.618034 % 1.0) * self.plan.chat_interval
        return True


def worker_main(plan: WorkerPlan, counters: Any, go: Any, go_at: Any, stop: Any, results: Any) -> None:
    """Entry point of a worker process: connect, drain until ``stop``, report close codes."""
    errors: Tally[str] = Tally()
    opened = asyncio.run(_open_all(plan, counters, errors))
    drainer = Drainer(plan, counters, go, stop)
    for conn, first in opened:
        drainer.add(conn, first)
    try:
        drainer.run(go_at)
    finally:
        results.put({"pid": os.getpid(), "close_codes": dict(drainer.close_codes),
                     "connect_errors": dict(errors.most_common(5))})
