"""The order of one room's events on one node, Sans-I/O: events in, what to do out.

A node hears a room's events twice over: pub/sub messages (fast, may be lost or arrive
after a reconnect) and the room's history (the Redis Stream, read by seq range). The
``Sequencer`` turns both into one delivery in strict seq order, each event once. Its rules:

1. Nothing is delivered before ``start(epoch, seq)`` says where this subscription begins
   (else a new subscriber would be handed the room's history from seq 0).
2. An event of another epoch resets the room: the history it belonged to is gone, seqs
   start again at 1 (``Reset`` is returned first, then the new epoch's events).
3. An event at or below the last delivered seq is a duplicate: dropped.
4. An event after a gap is held back: ``Fetch(first, last)`` asks for the missing range
   from history; ``filled(events)`` then delivers what came back and the held event.
5. Events history no longer holds are skipped once (``Lost``), never waited for.
6. ``head(epoch, seq)`` (the room's counter, read when idle or after a reconnect) fetches
   whatever pub/sub did not bring.

``recent_tail`` holds the history rule for a node starting a room's replica: only the
contiguous, recent run of events that ends at the room's seq is usable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rooms.events import Event


@dataclass(frozen=True)
class Deliver:
    event: Event


@dataclass(frozen=True)
class Fetch:
    """Read events ``first..last`` (inclusive) from history, then call ``filled``."""

    first: int
    last: int


@dataclass(frozen=True)
class Reset:
    """A new epoch: everything before belongs to a history that is gone."""

    epoch: str


@dataclass(frozen=True)
class Lost:
    """Events ``first..last`` are no longer in history: skipped."""

    first: int
    last: int


Action = Deliver | Fetch | Reset | Lost


@dataclass
class Sequencer:
    epoch: str | None = None
    last: int = 0
    started: bool = False
    _held: Event | None = None
    _fetching: Fetch | None = field(default=None, repr=False)

    def start(self, epoch: str | None, seq: int) -> None:
        """Begin after ``seq`` of ``epoch`` (``None``: the room has no epoch yet)."""
        self.epoch = epoch
        self.last = seq if epoch else 0
        self.started = True

    def message(self, event: Event) -> list[Action]:
        """One event from pub/sub."""
        if not self.started:
            return []
        actions = self._maybe_reset(event.epoch)
        if event.seq <= self.last:
            return actions
        if event.seq > self.last + 1:
            self._held = event
            return [*actions, self._fetch(event.seq - 1)]
        return [*actions, self._deliver(event)]

    def head(self, epoch: str | None, seq: int) -> list[Action]:
        """The room's epoch and seq as history has them now."""
        if not self.started or epoch is None:
            return []  # no epoch: nothing published since history was lost
        actions = self._maybe_reset(epoch)
        if seq > self.last:
            actions.append(self._fetch(seq))
        return actions

    def filled(self, events: Iterable[Event]) -> list[Action]:
        """What the last ``Fetch`` read from history, in seq order. (A fetch that failed
        needs no call: the next ``message`` or ``head`` asks again, for a range that covers
        it.)"""
        fetch, self._fetching = self._fetching, None
        if fetch is None:
            return []
        actions: list[Action] = []
        for event in events:
            if event.epoch != self.epoch or event.seq <= self.last or event.seq > fetch.last:
                continue
            if event.seq > self.last + 1:
                actions.append(Lost(self.last + 1, event.seq - 1))
            actions.append(self._deliver(event))
        if self.last < fetch.last:
            actions.append(Lost(self.last + 1, fetch.last))
            self.last = fetch.last
        held, self._held = self._held, None
        if held is not None and held.epoch == self.epoch and held.seq > self.last:
            actions.append(self._deliver(held))
        return actions

    def _maybe_reset(self, epoch: str) -> list[Action]:
        if self.epoch == epoch:
            return []
        self.epoch, self.last = epoch, 0
        return [Reset(epoch)]

    def _fetch(self, upto: int) -> Fetch:
        if self._held is not None and self._held.seq <= upto:
            self._held = None  # the range brings it
        self._fetching = Fetch(self.last + 1, upto)
        return self._fetching

    def _deliver(self, event: Event) -> Deliver:
        self.last = event.seq
        return Deliver(event)


def recent_tail(events: Iterable[Event], epoch: str, seq: int, cutoff: float) -> list[Event]:
    """The events (oldest first) a replica may start from: of ``epoch``, published at or
    after ``cutoff``, at most ``seq``, and the contiguous run that ends the lot (a gap means
    what came before no longer leads up to the present)."""
    kept: list[Event] = []
    for event in events:
        if event.epoch != epoch or event.ts < cutoff or event.seq > seq:
            continue
        if kept and event.seq != kept[-1].seq + 1:
            kept = []
        kept.append(event)
    return kept


def sticky_in(events: Iterable[Event], epoch: str) -> list[Event]:
    """The kept last-of-a-type events that belong to ``epoch``, in seq order."""
    return sorted((e for e in events if e.epoch == epoch), key=lambda e: e.seq)
