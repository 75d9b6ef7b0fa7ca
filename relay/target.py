"""One restream target's task: connect, pump the hub into RTMP, retry, report.

Each target runs in its own asyncio task with its own hub reader, so a target that is
down, slow or refused never touches the others, the ingest or the viewers: its reader
drops to the next keyframe when the socket backs up (see :mod:`media.reader`), and its
errors end in its own state (:mod:`relay.state`). State changes go to ``on_change``.

A new reader is taken for each connection, so every connection starts with the stream
header and the GOP cache: codec configuration first, then a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from media.errors import MediaError, StreamEnded
from media.hub import Hub
from media.reader import Reader
from media.rtmp.from_hub import FlvRemuxer, Out
from relay import metrics
from relay.backoff import Backoff
from relay.errors import DestinationRefused, PublishFailed, TargetConfigError
from relay.presets import Endpoint
from relay.state import TargetEvent, TargetState, next_state
from relay.store import TargetSpec

log = logging.getLogger(__name__)

READER_MAX_UNITS = 600
READER_MAX_BYTES = 8 * 1024 * 1024
BITRATE_WINDOW = 5.0
BATCH = 64


class Publisher(Protocol):
    """What the runner needs of a connection (:class:`relay.connection.RtmpConnection`)."""

    @property
    def bytes_sent(self) -> int: ...

    async def send(self, items: list[Out]) -> None: ...

    async def close(self) -> None: ...


Connect = Callable[[Endpoint, str], Awaitable[Publisher]]
OnChange = Callable[["TargetRunner"], None]


class TargetRunner:
    """Publishes one target while its room is live."""

    def __init__(self, spec: TargetSpec, hub: Hub, connect: Connect, on_change: OnChange, *,
                 backoff: Backoff | None = None, rng: random.Random | None = None) -> None:
        self.spec = spec
        self.label = f"{spec.slug}/{spec.id}"
        self.state = TargetState.IDLE
        self.reason: str | None = None
        self.next_attempt_at: float | None = None
        self.live_since: float | None = None
        self.reconnects = 0
        self.drops = 0
        self.bytes_sent = 0
        self._hub = hub
        self._connect = connect
        self._on_change = on_change
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._attempt = 0
        self._reader: Reader | None = None
        self._reader_drops = 0
        self._samples: deque[tuple[float, int]] = deque()
        self._task: asyncio.Task[None] | None = None

    # -- control -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"relay {self.label}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state is not TargetState.IDLE:
            self._move(TargetEvent.STOP)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _move(self, event: TargetEvent, reason: str | None = None) -> None:
        before = self.state
        self.state = next_state(self.state, event)
        self.reason = reason
        self.next_attempt_at = None
        metrics.STATE.labels(self.label, before.value).set(0)
        metrics.STATE.labels(self.label, self.state.value).set(1)
        log.info("restream %s: %s -> %s%s", self.label, before, self.state, f" ({reason})" if reason else "",
                 extra={"room": self.spec.slug, "target": self.spec.id, "key": self.spec.row.key_hint})
        self._on_change(self)

    # -- the task ------------------------------------------------------------------------

    async def _run(self) -> None:
        self._move(TargetEvent.START)
        try:
            endpoint = Endpoint.parse(self.spec.row.url)
        except TargetConfigError as err:  # a row saved before today's URL rules
            metrics.DESTINATION_REFUSED.labels("connect", getattr(err, "rule", "bad_url")).inc()
            log.warning("restream %s: stored url refused: %s", self.label, err)
            self._move(TargetEvent.REFUSED, DestinationRefused.GENERIC)
            return
        while True:
            try:
                await self._attempt_once(endpoint)
            except StreamEnded:
                self._move(TargetEvent.STOP, "the show ended")
                return
            except PublishFailed as err:
                if not err.retry:
                    self._move(TargetEvent.REFUSED, err.reason)
                    return
                await self._retry(err.reason)
            except MediaError as err:  # the room has no stream (any more)
                self._move(TargetEvent.STOP, str(err))
                return

    async def _retry(self, reason: str) -> None:
        self._attempt += 1
        delay = self._backoff.delay(self._attempt, self._rng)
        self._move(TargetEvent.BROKEN, reason)
        self.next_attempt_at = time.time() + delay
        self._on_change(self)
        await asyncio.sleep(delay)
        self.reconnects += 1
        metrics.RECONNECTS.labels(self.label).inc()
        self._move(TargetEvent.RETRY)

    async def _attempt_once(self, endpoint: Endpoint) -> None:
        conn = await self._connect(endpoint, self.spec.key)
        reader: Reader | None = None
        try:
            reader = self._reader = self._hub.add_reader(
                self.spec.slug, "relay", max_units=READER_MAX_UNITS, max_bytes=READER_MAX_BYTES)
            self.live_since = time.monotonic()
            self._move(TargetEvent.ACCEPTED)
            await self._pump(reader, conn)
        finally:
            if reader is not None:
                self._account(0, reader)
                reader.close()
            self._reader, self._reader_drops = None, 0
            self.live_since = None
            await conn.close()

    async def _pump(self, reader: Reader, conn: Publisher) -> None:
        remux = FlvRemuxer()
        sent_before = conn.bytes_sent
        while True:
            batch = _take(reader, remux)
            if not batch:
                batch = remux.feed(await reader.read())
            if batch:
                await conn.send(batch)
            self._account(conn.bytes_sent - sent_before, reader)
            sent_before = conn.bytes_sent
            if time.monotonic() - (self.live_since or 0) > self._backoff.stable_after:
                self._attempt = 0

    # -- figures -------------------------------------------------------------------------

    def _account(self, sent: int, reader: Reader) -> None:
        now = time.monotonic()
        self.bytes_sent += sent
        metrics.BYTES.labels(self.label).inc(sent)
        self._samples.append((now, self.bytes_sent))
        while self._samples and now - self._samples[0][0] > BITRATE_WINDOW:
            self._samples.popleft()
        new = reader.drops - self._reader_drops
        if new > 0:
            self.drops += new
            self._reader_drops = reader.drops
            metrics.DROPS.labels(self.label).inc(new)

    @property
    def bitrate(self) -> int:
        if len(self._samples) < 2:
            return 0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return int((b1 - b0) * 8 / (t1 - t0)) if t1 > t0 else 0

    def status(self) -> dict[str, Any]:
        if self._reader is not None:  # a target stuck on a full socket still shows its drops
            self._account(0, self._reader)
        uptime = time.monotonic() - self.live_since if self.live_since is not None else 0.0
        metrics.UPTIME.labels(self.label).set(uptime)
        metrics.BITRATE.labels(self.label).set(self.bitrate)
        return {"state": self.state.value, "reason": self.reason, "next_attempt_at": self.next_attempt_at,
                "bytes": self.bytes_sent, "bitrate": self.bitrate, "uptime": round(uptime, 1),
                "reconnects": self.reconnects, "drops": self.drops}


def _take(reader: Reader, remux: FlvRemuxer) -> list[Out]:
    """Whatever is already buffered, remuxed, up to BATCH items (raises StreamEnded at the end)."""
    out: list[Out] = []
    for _ in range(BATCH):
        item = reader.read_nowait()
        if item is None:
            break
        out += remux.feed(item)
    return out
