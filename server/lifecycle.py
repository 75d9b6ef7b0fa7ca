"""One ordered start/stop lifecycle for the server's parts.

Rules:

* Parts start in the order they were added and stop in the reverse order.
* Each part starts at most once and stops at most once, and only if it started: calling
  ``stop`` again (SIGTERM drain, then the app's cleanup) never stops a part twice.
* ``start(upto=NAME)`` starts the parts up to and including NAME; a later ``start()``
  starts the rest (the RTMP listener starts only once HTTP is up, in ``notalabel serve``).
* ``stop(downto=NAME)`` stops the started parts from the last one down to and including
  NAME; a later ``stop()`` stops the rest (drain closes the intake first; the database
  goes last, after in-flight requests finished).
* A part whose stop raises is logged and the others still stop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("notalabel.lifecycle")

Step = Callable[[], Awaitable[None]]


class LifecycleError(Exception):
    """The lifecycle was called wrongly (an unknown part name, a duplicate)."""


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Part:
    name: str
    start: Step = _nothing
    stop: Step = _nothing


class Lifecycle:
    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._started: list[str] = []
        self._stopped: set[str] = set()

    def add(self, name: str, *, start: Step = _nothing, stop: Step = _nothing) -> None:
        if any(p.name == name for p in self._parts):
            raise LifecycleError(f"part {name!r} added twice")
        self._parts.append(Part(name, start, stop))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._parts)

    def _index(self, name: str | None) -> int:
        if name is None:
            return len(self._parts) - 1
        for i, part in enumerate(self._parts):
            if part.name == name:
                return i
        raise LifecycleError(f"no part named {name!r}")

    async def start(self, upto: str | None = None) -> None:
        for part in self._parts[: self._index(upto) + 1]:
            if part.name in self._started or part.name in self._stopped:
                continue
            await part.start()
            self._started.append(part.name)

    async def stop(self, downto: str | None = None) -> None:
        first = 0 if downto is None else self._index(downto)
        for part in reversed(self._parts[first:]):
            if part.name not in self._started or part.name in self._stopped:
                continue
            self._stopped.add(part.name)
            try:
                await part.stop()
            except Exception:  # noqa: BLE001 - one failing part must not keep the rest running
                log.exception("stopping %s failed", part.name)
