"""The event bus: one ordered, numbered stream of events per room, shared by every node.

``publish`` assigns the room's next ``seq`` atomically, keeps the event in a bounded
history (about two minutes or 1,000 events, both settings) and delivers it to every
subscriber of the room on every node, in seq order. A publish with an idempotency key that
was seen before (within ``idempotency_ttl_s``) publishes nothing and returns the event it
published the first time (so a retried webhook never shows a tip twice).

Subscribers are plain synchronous callbacks: the bus never awaits a subscriber, and a
subscriber must not block (the gateway only appends to bounded per-socket buffers).

Implementations: ``MemoryBus`` here (one process, the default) and ``RedisBus`` in
redisbus.py (many processes sharing one Redis).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rooms import roomevents  # noqa: F401  (declares the event types)
from rooms.events import Event
from rooms.history import History
from rooms.registry import ROOM

EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class BusSettings:
    history_events: int = 1000
    history_s: float = 120.0
    idempotency_ttl_s: float = 3 * 24 * 3600.0
    presence_ttl_s: float = 30.0
    memory_idempotency_keys: int = 10_000
    """MemoryBus only: idempotency keys remembered per room (oldest forgotten first)."""


def new_epoch() -> str:
    return secrets.token_hex(4)


STICKY_TYPES = ROOM.sticky_types()
"""Event types that carry a piece of room state (declared ``sticky``, roomevents.py): the bus
keeps the last one of each beyond history, so a node that starts a room after minutes of
quiet still knows it."""


@dataclass(frozen=True)
class Recent:
    """What a node needs to start a room's replica: the epoch, its seq, what history holds,
    and the last event of each ``STICKY_TYPES`` type (in seq order, possibly older)."""

    epoch: str
    seq: int
    events: list[Event]
    sticky: list[Event] = field(default_factory=list)


class EventBus(Protocol):
    node_id: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self, room: str, type: str, data: dict[str, Any], idempotency_key: str | None = None
    ) -> Event: ...

    async def subscribe(self, room: str, callback: EventCallback) -> None: ...

    async def unsubscribe(self, room: str, callback: EventCallback) -> None: ...

    async def recent(self, room: str) -> Recent: ...

    async def set_presence(self, room: str, count: int) -> int:
        """Record this node's viewer count for the room; return the count over all nodes."""
        ...


class _MemoryRoom:
    def __init__(self, settings: BusSettings) -> None:
        self.history = History(settings.history_events, settings.history_s)
        self.history.reset(new_epoch())
        self.subscribers: list[EventCallback] = []
        self.seen: OrderedDict[str, tuple[float, Event]] = OrderedDict()
        self.sticky: dict[str, Event] = {}


class MemoryBus:
    """The in-process bus: everything in one process, delivery inside ``publish``."""

    def __init__(
        self, settings: BusSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings or BusSettings()
        self.node_id = "local"
        self._clock = clock
        self._rooms: dict[str, _MemoryRoom] = {}

    def _room(self, room: str) -> _MemoryRoom:
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _MemoryRoom(self.settings)
        return state

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._rooms.clear()

    async def publish(
        self, room: str, type: str, data: dict[str, Any], idempotency_key: str | None = None
    ) -> Event:
        state = self._room(room)
        now = self._clock()
        if idempotency_key is not None:
            seen = self._seen(state, idempotency_key, now)
            if seen is not None:
                return seen
        history = state.history
        event = Event(type, history.seq + 1, history.epoch, data, now)
        history.append(event)
        if type in STICKY_TYPES:
            state.sticky[type] = event
        if idempotency_key is not None:
            state.seen[idempotency_key] = (now, event)
            if len(state.seen) > self.settings.memory_idempotency_keys:
                state.seen.popitem(last=False)
        for callback in list(state.subscribers):
            callback(event)
        return event

    def _seen(self, state: _MemoryRoom, key: str, now: float) -> Event | None:
        cutoff = now - self.settings.idempotency_ttl_s
        while state.seen and next(iter(state.seen.values()))[0] < cutoff:
            state.seen.popitem(last=False)
        hit = state.seen.get(key)
        return hit[1] if hit else None

    async def subscribe(self, room: str, callback: EventCallback) -> None:
        self._room(room).subscribers.append(callback)

    async def unsubscribe(self, room: str, callback: EventCallback) -> None:
        subscribers = self._room(room).subscribers
        if callback in subscribers:
            subscribers.remove(callback)

    async def recent(self, room: str) -> Recent:
        state = self._room(room)
        history = state.history
        sticky = sorted(state.sticky.values(), key=lambda e: e.seq)
        return Recent(history.epoch, history.seq, history.events(self._clock()), sticky)

    async def set_presence(self, room: str, count: int) -> int:
        return count
