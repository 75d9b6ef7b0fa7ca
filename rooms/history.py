"""A room's recent events for reconnect recovery, bounded by count and by age. Sans-I/O.

``since(seq, epoch, now)`` returns exactly the events after ``seq`` in order, or ``None``
when that cannot be done: another epoch, a seq from the future, or events after ``seq``
that are no longer held (older than ``max_age_s`` or pushed out by ``max_events``).
"""

from __future__ import annotations

from collections import deque

from rooms.events import Event


class History:
    def __init__(self, max_events: int = 1000, max_age_s: float = 120.0) -> None:
        self.max_events = max_events
        self.max_age_s = max_age_s
        self.epoch = ""
        self.seq = 0
        self._events: deque[Event] = deque(maxlen=max_events)

    def __len__(self) -> int:
        return len(self._events)

    def reset(self, epoch: str, seq: int = 0) -> None:
        """Start over in ``epoch`` (its history before ``seq`` is not held here)."""
        self.epoch = epoch
        self.seq = seq
        self._events.clear()

    def append(self, event: Event) -> None:
        if event.epoch != self.epoch:
            self.reset(event.epoch, event.seq - 1)
        if event.seq <= self.seq:
            return
        if event.seq != self.seq + 1:
            self._events.clear()  # a gap: what we hold no longer leads up to this event
        self._events.append(event)
        self.seq = event.seq

    def _trim(self, now: float) -> None:
        cutoff = now - self.max_age_s
        while self._events and self._events[0].ts < cutoff:
            self._events.popleft()

    def events(self, now: float) -> list[Event]:
        self._trim(now)
        return list(self._events)

    def since(self, seq: int, epoch: str, now: float) -> list[Event] | None:
        if epoch != self.epoch or seq > self.seq or seq < 0:
            return None
        if seq == self.seq:
            return []
        self._trim(now)
        if not self._events or self._events[0].seq > seq + 1:
            return None
        return [e for e in self._events if e.seq > seq]
