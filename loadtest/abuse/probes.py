"""What the abuse benchmark measures while an attack runs, all from 127.0.0.1.

* :class:`ChatProbe`: signed-in fans in the probe room, each sending ``chat.send`` every
  ``interval`` seconds (under the fans' 20-per-30-s limit) and timing the round trip to its
  own ``chat.message`` coming back on the same socket. A message not back in
  ``lost_after`` seconds counts as lost (and as that long a sample, so it shows in p99).
* :class:`HealthProbe`: ``GET /healthz`` every ``interval`` seconds, one at a time on a
  keep-alive connection; a failed or timed-out request counts as a ``timeout_s`` sample.
* :class:`PublisherWatch`: polls ``GET /api/rooms/{slug}/stream`` and the ffmpeg process;
  the publisher dropped if ffmpeg exited, the room was ever not live, or its publish
  ``session`` changed (a reconnect).

Samples go to the bucket named by ``phase`` at the time they are taken; ``None`` between
phases, so set-up and tear-down are never measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from loadtest.abuse.net import PROBE_ADDRESS, client


class Phases:
    """The current phase's name, shared by every probe."""

    def __init__(self) -> None:
        self.current: str | None = None


class ChatProbe:
    def __init__(self, base: str, slug: str, tokens: list[str], phases: Phases, interval: float = 1.7,
                 lost_after: float = 5.0) -> None:
        self.base, self.slug, self.tokens, self.phases = base, slug, tokens, phases
        self.interval, self.lost_after = interval, lost_after
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.lost: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self._tasks: list[asyncio.Task[None]] = []
        self._http = client(PROBE_ADDRESS, timeout=None)
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def start(self) -> None:
        url = self.base.replace("http://", "ws://") + f"/ws/rooms/{self.slug}"
        for token in self.tokens:
            ws = await self._http.ws_connect(f"{url}?token={token}")
            first = await ws.receive_json(timeout=15)
            if first.get("type") != "snapshot":
                raise RuntimeError(f"probe socket: expected a snapshot, got {first}")
            self._sockets.append(ws)
        for n, ws in enumerate(self._sockets):
            self._tasks.append(asyncio.create_task(self._fan(n, ws)))

    async def _fan(self, n: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(n * self.interval / max(1, len(self._sockets)))  # spread the fans
        seq = 0
        while True:
            began = loop.time()
            seq += 1
            marker = f"probe {n}/{seq}"
            phase = self.phases.current
            await ws.send_str(json.dumps({"op": "chat.send", "id": marker, "text": marker}))
            rtt = await self._echo(ws, marker, began)
            if phase is not None and phase == self.phases.current:
                if rtt is None:
                    self.lost[phase] += 1
                    rtt = self.lost_after
                self.samples[phase].append(rtt * 1000)
            await asyncio.sleep(max(0.0, began + self.interval - loop.time()))

    async def _echo(self, ws: aiohttp.ClientWebSocketResponse, marker: str, began: float) -> float | None:
        loop = asyncio.get_running_loop()
        deadline = began + self.lost_after
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                return None
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise RuntimeError(f"a probe socket was closed: {msg.type} {msg.data}")
                continue
            event = json.loads(msg.data)
            if event.get("type") == "error" and event.get("id") == marker:
                self.errors[f"{event.get('code')}"] += 1
                return None
            if event.get("type") == "chat.message" and event.get("data", {}).get("text") == marker:
                return loop.time() - began
        return None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for ws in self._sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await self._http.close()

    def failed(self) -> BaseException | None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None


class HealthProbe:
    def __init__(self, base: str, phases: Phases, interval: float = 0.1, timeout_s: float = 5.0) -> None:
        self.base, self.phases, self.interval, self.timeout_s = base, phases, interval, timeout_s
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.failures: dict[str, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async with client(PROBE_ADDRESS, limit=1, timeout=self.timeout_s) as http:
            while True:
                began = loop.time()
                phase = self.phases.current
                ok = False
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.base + "/healthz") as answer:
                        await answer.read()
                        ok = answer.status == 200
                took = loop.time() - began if ok else self.timeout_s
                if phase is not None and phase == self.phases.current:
                    self.samples[phase].append(took * 1000)
                    if not ok:
                        self.failures[phase] += 1
                await asyncio.sleep(max(0.0, began + self.interval - loop.time()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class PublisherState:
    ffmpeg_running: bool = True
    live_all_along: bool = True
    sessions: set[Any] = field(default_factory=set)
    polls: int = 0

    @property
    def dropped(self) -> bool:
        return not self.ffmpeg_running or not self.live_all_along or len(self.sessions) > 1


class PublisherWatch:
    def __init__(self, base: str, slug: str, ffmpeg: subprocess.Popen[bytes], phases: Phases,
                 interval: float = 0.5) -> None:
        self.base, self.slug, self.ffmpeg, self.phases, self.interval = base, slug, ffmpeg, phases, interval
        self.states: dict[str, PublisherState] = defaultdict(PublisherState)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with client(PROBE_ADDRESS, limit=1, timeout=5) as http:
            while True:
                phase = self.phases.current
                state: dict[str, Any] = {}
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                    async with http.get(f"{self.base}/api/rooms/{self.slug}/stream") as answer:
                        state = await answer.json()
                if phase is not None and phase == self.phases.current:
                    self._note(self.states[phase], state)
                await asyncio.sleep(self.interval)

    def _note(self, seen: PublisherState, state: dict[str, Any]) -> None:
        seen.polls += 1
        if self.ffmpeg.poll() is not None:
            seen.ffmpeg_running = False
        if state.get("state") != "live":
            seen.live_all_along = False
        else:
            seen.sessions.add(state.get("session"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def wait_live(base: str, slug: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the room's stream until it is live with video; its state then."""
    deadline = time.monotonic() + timeout
    async with client(PROBE_ADDRESS, limit=1, timeout=5) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.get(f"{base}/api/rooms/{slug}/stream") as answer:
                    state: dict[str, Any] = await answer.json()
                    if state.get("state") == "live" and state.get("video_codec"):
                        return state
            await asyncio.sleep(0.2)
    raise RuntimeError(f"room {slug} did not go live in {timeout:.0f} s")
