"""One process of LL-HLS viewers for :mod:`loadtest.hls_viewers` (uvloop, raw HTTP/1.1).

Every viewer holds one keep-alive connection and does what a low-latency player does
without preload hints: a blocking playlist reload for the part after the last one it has
(``index.m3u8?_HLS_msn=M&_HLS_part=P``), then a GET for every part the answer lists past
the last one it has. Same requests, same order, against both servers:

* ``--mode ours``: the server holds each playlist request until the part exists.
* ``--mode files``: a plain file server (nginx) cannot hold requests, so a watcher in this
  process polls the mirrored playlist on disk every few milliseconds and each viewer sends
  its playlist request once the mirror has the part it asks for.

It prints one JSON object: requests, bytes, failures, and the fetch time (request sent to
last byte) of every part fetched in the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import uvloop

PART = re.compile(r'#EXT-X-PART:[^\n]*URI="([^"]*part-(\d+)-(\d+)\.m4s(?:\?[^"]*)?)"')  # ?vt= when gated
REQUEST_TIMEOUT = 10.0


@dataclass
class Stats:
    measuring: bool = False
    requests: int = 0
    playlist_requests: int = 0
    part_requests: int = 0
    bytes: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    part_times_ms: list[float] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        if self.measuring:
            self.failures += 1
            self.errors[reason] = self.errors.get(reason, 0) + 1


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, Content-Length bodies."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, int]] | None = None
        self._need = -1
        self._head = 0
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection lost"))
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._need < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).lower()
            self._status = int(head[9:12])
            match = re.search(rb"\r\ncontent-length: *(\d+)", head)
            self._head = end + 4
            self._need = self._head + (int(match[1]) if match else 0)
        if len(self._buffer) >= self._need and self._waiter is not None:
            body = bytes(self._buffer[self._head : self._need])
            total = self._need
            del self._buffer[: self._need]
            self._need = -1
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result((self._status, body, total))

    async def get(self, host: str, path: str) -> tuple[int, bytes, int]:
        if self.transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return await asyncio.wait_for(self._waiter, REQUEST_TIMEOUT)


class DiskEdge:
    """The newest part of the mirrored playlist on disk, for ``--mode files``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.position = (-1, -1)
        self._changed = asyncio.Event()
        self._mtime = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                mtime = os.stat(self.path).st_mtime_ns
                if mtime != self._mtime:
                    self._mtime = mtime
                    parts = PART.findall(self.path.read_text())
                    if parts:
                        self.position = (int(parts[-1][1]), int(parts[-1][2]))
                        event, self._changed = self._changed, asyncio.Event()
                        event.set()
            await asyncio.sleep(0.004)

    async def wait_for(self, position: tuple[int, int]) -> None:
        while self.position < position:
            await self._changed.wait()


class Viewer:
    def __init__(self, host: str, port: int, playlist: str, stats: Stats, edge: DiskEdge | None) -> None:
        self.host, self.port, self.playlist = host, port, playlist
        self.base = playlist.rsplit("/", 1)[0] + "/"
        self.stats = stats
        self.edge = edge
        self.conn: HttpConnection | None = None

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self.conn is None or self.conn.transport is None:
            loop = asyncio.get_running_loop()
            _, self.conn = await loop.create_connection(HttpConnection, self.host, self.port)
        status, body, total = await self.conn.get(f"{self.host}:{self.port}", path)
        if self.stats.measuring:
            self.stats.requests += 1
            self.stats.bytes += total
        return status, body

    async def run(self) -> None:
        last = (-1, -1)
        while True:
            try:
                last = await self._step(last)
            except (ConnectionError, OSError, TimeoutError) as error:
                self.stats.fail(type(error).__name__)
                if self.conn is not None and self.conn.transport is not None:
                    self.conn.transport.close()
                self.conn = None
                await asyncio.sleep(0.2)

    async def _step(self, last: tuple[int, int]) -> tuple[int, int]:
        if last[0] < 0:
            path = self.playlist
        else:
            wanted = (last[0], last[1] + 1)
            if self.edge is not None:
                await self.edge.wait_for(wanted)
            joiner = "&" if "?" in self.playlist else "?"  # a gated room's playlist carries ?vt=
            path = f"{self.playlist}{joiner}_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}"
        status, body = await self._get(path)
        self.stats.playlist_requests += self.stats.measuring
        if status != 200:
            self.stats.fail(f"playlist {status}")
            await asyncio.sleep(0.2)
            return last
        parts = [(uri, (int(msn), int(index))) for uri, msn, index in PART.findall(body.decode())]
        if last[0] < 0:  # start at the live edge, as a low-latency player does
            return parts[-1][1] if parts else last
        for uri, position in parts:
            if position > last:
                await self._fetch_part(uri)
                last = position
        return last

    async def _fetch_part(self, uri: str) -> None:
        began = time.monotonic()
        status, _ = await self._get(self.base + uri)
        if not self.stats.measuring:
            return
        self.stats.part_requests += 1
        if status != 200:
            self.stats.fail(f"part {status}")
        else:
            self.stats.part_times_ms.append(round((time.monotonic() - began) * 1000, 2))


async def run(args: argparse.Namespace) -> Stats:
    stats = Stats()
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    edge = DiskEdge(Path(args.watch)) if args.mode == "files" else None
    tasks = []
    if edge is not None:
        tasks.append(asyncio.create_task(edge.run()))
    start_at = args.start_at
    ramp = max(0.0, start_at - time.time() - 1.0)
    for _ in range(args.viewers):
        viewer = Viewer(args.host, args.port, args.playlist, stats, edge)
        tasks.append(asyncio.create_task(viewer.run()))
        await asyncio.sleep(ramp / args.viewers)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    stats.measuring = True
    await asyncio.sleep(args.duration)
    stats.measuring = False
    for task in tasks:
        task.cancel()
    # wait_for() may swallow a cancellation that races with its result (Python 3.11), so
    # do not wait for every viewer to notice: the results are final already.
    await asyncio.wait(tasks, timeout=2)
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--playlist", required=True, help="/live/SLUG/index.m3u8")
    parser.add_argument("--viewers", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="time.time() to start measuring")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--mode", choices=("ours", "files"), default="ours")
    parser.add_argument("--watch", help="the mirrored playlist file (--mode files)")
    args = parser.parse_args(argv)
    loop = uvloop.new_event_loop()
    stats = loop.run_until_complete(run(args))
    print(json.dumps(stats.__dict__), flush=True)
    os._exit(0)  # viewers that missed their cancellation die with the process


if __name__ == "__main__":
    main()
