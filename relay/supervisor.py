"""The relay supervisor: one :class:`relay.target.TargetRunner` per enabled target of each
live room.

Rules:

* A room goes live (the hub reports its stream ``live``): its enabled targets start.
* The room ends (the stream goes ``offline``; a publisher that drops and comes back within
  the hub's grace keeps the targets going, on a continued timeline): its targets stop.
* The owner adds, edits, enables, disables or deletes a target: ``target_changed`` stops
  the old runner (if any) and starts the new configuration if it is enabled and the room
  is live. Other targets are not touched.
* Every state change of a target is passed to ``on_state(slug, status)``; the integrator
  routes it to the room as an event. Status dicts never carry a key.
* Connections go only where the store's destination policy allows (:mod:`relay.dial`);
  a refused destination ends the target ``failed`` with "destination not allowed".

The supervisor is the only owner of its runners; hub callbacks only schedule work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from media.hub import Hub, Stream, StreamState
from relay import metrics
from relay.backoff import Backoff
from relay.connection import RtmpConnection
from relay.presets import Endpoint
from relay.store import TargetSpec, TargetStore
from relay.target import Publisher, TargetRunner

log = logging.getLogger(__name__)

OnState = Callable[[str, dict[str, Any]], None]


class RelaySupervisor:
    """Start with ``attach()`` (follows the hub), stop with ``await close()``."""

    def __init__(self, hub: Hub, store: TargetStore, *, on_state: OnState | None = None,
                 ca_bundle: str | None = None, backoff: Backoff | None = None,
                 connect: Callable[[Endpoint, str], Awaitable[Publisher]] | None = None) -> None:
        self.hub = hub
        self.store = store
        self.on_state = on_state
        self.ca_bundle = ca_bundle or None
        self.backoff = backoff or Backoff()
        self._connect = connect or self._open
        self._runners: dict[int, TargetRunner] = {}
        self._live: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._detach: Callable[[], None] | None = None
        self._lock = asyncio.Lock()

    async def _open(self, endpoint: Endpoint, key: str) -> Publisher:
        return await RtmpConnection.open(endpoint, key, policy=self.store.policy, ca_bundle=self.ca_bundle)

    # -- following the hub -----------------------------------------------------------------

    def attach(self) -> None:
        """Follow the hub's stream states; rooms already live start now."""
        self._detach = self.hub.on_state_change(self._on_stream)
        for stream in self.hub:
            self._on_stream(stream)

    def _on_stream(self, stream: Stream) -> None:
        if stream.state is StreamState.LIVE and stream.slug not in self._live:
            self._spawn(self.on_room_live, stream.slug)
        elif stream.state is StreamState.OFFLINE and stream.slug in self._live:
            self._spawn(self.on_room_offline, stream.slug)

    def _spawn(self, step: Callable[[str], Awaitable[None]], slug: str) -> None:
        async def run() -> None:
            try:
                await step(slug)
            except Exception:
                log.exception("relay supervisor step failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- room and target changes ---------------------------------------------------------------

    async def on_room_live(self, slug: str) -> None:
        """Start the room's enabled targets (idempotent)."""
        self._live.add(slug)
        async with self._lock:
            specs = await self.store.specs(slug)
            if slug not in self._live:
                return
            for spec in specs:
                if spec.id not in self._runners:
                    self._start(spec)

    async def on_room_offline(self, slug: str) -> None:
        """Stop the room's targets."""
        self._live.discard(slug)
        async with self._lock:
            runners = [r for r in self._runners.values() if r.spec.slug == slug]
            await asyncio.gather(*(r.stop() for r in runners))
            for runner in runners:
                del self._runners[runner.spec.id]

    async def target_changed(self, target_id: int) -> None:
        """A target was added, edited, toggled or deleted: apply it to this target alone."""
        async with self._lock:
            old = self._runners.get(target_id)
            if old is not None:
                await old.stop()
                del self._runners[target_id]
            spec = await self.store.spec(target_id)
            if spec is None:
                if old is not None:
                    metrics.forget(old.label)
                return
            if spec.row.enabled and spec.slug in self._live:
                self._start(spec)

    def _start(self, spec: TargetSpec) -> None:
        runner = TargetRunner(spec, self.hub, self._connect, self._changed, backoff=self.backoff)
        self._runners[spec.id] = runner
        runner.start()

    def _changed(self, runner: TargetRunner) -> None:
        if self.on_state is None:
            return
        try:
            self.on_state(runner.spec.slug, {"id": runner.spec.id, **runner.status()})
        except Exception:
            log.exception("relay on_state callback failed")

    # -- reading -------------------------------------------------------------------------

    def status(self, target_id: int) -> dict[str, Any]:
        runner = self._runners.get(target_id)
        if runner is None:
            return {"state": "idle", "reason": None, "next_attempt_at": None, "bytes": 0, "bitrate": 0,
                    "uptime": 0.0, "reconnects": 0, "drops": 0}
        return runner.status()

    def runner(self, target_id: int) -> TargetRunner | None:
        return self._runners.get(target_id)

    async def close(self) -> None:
        if self._detach is not None:
            self._detach()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            runners = list(self._runners.values())
            self._runners.clear()
            self._live.clear()
            await asyncio.gather(*(r.stop() for r in runners))
