"""One room on one node: its replica state, recent history and the sockets watching it.

The hub is the room's single owner on this node. ``on_event`` (a synchronous bus callback,
called in seq order) applies the event to the replica, appends it to the local history and
pushes it into every socket's bounded buffer, without awaiting anything. Side effects that
need I/O (reloading the room after ``room.changed``) are handed to the gateway.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rooms.bus import Recent
from rooms.core import RoomState
from rooms.events import Event
from rooms.fanout import BANNED, NOT_ADMITTED, RoomFanout, SocketWriter, encodable
from rooms.history import History
from rooms.metrics import DELIVERIES, EVENTS, EVENTS_DROPPED
from rooms.ports import Identity

log = logging.getLogger(__name__)

ACCESS_REVOKED = "access.revoked"
"""System event ``{"user_id"}``: the server revoked that user's ticket (refund, transfer); their
sockets in the room close with 4001 on every node and must pass the gate again."""


@dataclass(eq=False, slots=True)
class Member:
    """One socket in a room (slotted: a big room holds thousands)."""

    writer: SocketWriter
    identity: Identity | None
    may_chat: bool
    viewer: str | None = None
    """Who this socket counts as in ``viewers`` (caps.socket_key); None: not a viewer
    (the overlay's read-only socket)."""

    @property
    def user_id(self) -> int | None:
        return self.identity.user_id if self.identity else None


@dataclass(eq=False)
class RoomHub:
    slug: str
    state: RoomState
    history: History
    on_room_changed: Callable[[str], None]
    members: set[Member] = field(default_factory=set)
    viewer_sockets: Counter[str] = field(default_factory=Counter)
    """Open sockets per viewer key: ``viewers`` is how many keys, not how many sockets."""
    presence_dirty: bool = True
    idle_since: float = 0.0
    joining: int = 0
    _buffered: list[Event] | None = field(default_factory=list)
    fanout: RoomFanout = field(init=False, repr=False)
    """The members' writers as one batch (fanout.py): told of every join and leave."""

    def __post_init__(self) -> None:
        self.fanout = RoomFanout(self.members)

    def load(self, recent: Recent) -> None:
        """Start from the bus's retained history, then from the events buffered meanwhile."""
        first = recent.events[0].seq - 1 if recent.events else recent.seq
        self.history.reset(recent.epoch, first)
        for event in recent.sticky:  # state older than the history we hold
            if event.epoch == recent.epoch and event.seq <= first and self._accept(event):
                self.state.restore(event.type, event.data)
        for event in recent.events:
            if self._accept(event):
                self._apply(event)
        buffered, self._buffered = self._buffered or [], None
        for event in buffered:
            self.on_event(event)

    def on_event(self, event: Event) -> None:
        if self._buffered is not None:
            self._buffered.append(event)
            return
        if event.epoch == self.history.epoch and event.seq <= self.history.seq:
            return  # already applied (it was in the history we loaded)
        if not self._accept(event):
            return
        self._apply(event)
        self.fanout.publish(event)  # never adds or removes members
        DELIVERIES.inc(len(self.members))
        self._side_effects(event)

    def _accept(self, event: Event) -> bool:
        """Whether the event can go to every socket; one that cannot be encoded (a lone
        surrogate from a hand-made publish) is dropped here, before it reaches the
        replica, history or any snapshot, so it can never break a join."""
        if encodable(event):
            return True
        EVENTS_DROPPED.inc()
        log.warning("room %s: dropped %s event seq %s: not encodable", self.slug, event.type, event.seq)
        # A stand-in keeps history contiguous for recovering clients (they ignore the type).
        self.history.append(Event("dropped", event.seq, event.epoch, {}, event.ts))
        return False

    def _apply(self, event: Event) -> None:
        self.history.append(event)
        self.state.apply(event.type, event.data)
        EVENTS.inc()

    def _side_effects(self, event: Event) -> None:
        if event.type == "mod.notice" and event.data.get("action") == "ban":
            self.close_user(event.data.get("user_id"), BANNED, "banned from this room")
        elif event.type == ACCESS_REVOKED:
            self.close_user(event.data.get("user_id"), NOT_ADMITTED, "your ticket no longer admits you")
        elif event.type == "room.changed":
            self.on_room_changed(self.slug)

    def close_user(self, user_id: object, code: int, reason: str) -> None:
        for member in [m for m in self.members if m.user_id == user_id]:
            member.writer.close_soon(code, reason)

    def idle(self, now: float, idle_s: float) -> bool:
        return not self.members and not self.joining and now - self.idle_since >= idle_s

    def add(self, member: Member) -> None:
        self.members.add(member)
        self.fanout.joined(member.writer)
        if member.viewer is not None:
            self.viewer_sockets[member.viewer] += 1
        self.presence_dirty = True

    def remove(self, member: Member) -> None:
        if member in self.members:
            if member.viewer is not None:
                self.viewer_sockets[member.viewer] -= 1
                if self.viewer_sockets[member.viewer] <= 0:
                    del self.viewer_sockets[member.viewer]
            self.members.discard(member)
            self.fanout.left(member.writer)
        self.presence_dirty = True

    def viewers(self) -> int:
        """People watching on this node: one per signed-in user, one per guest address,
        never the room's owner or hosts."""
        info = self.state.info
        staff = sum(1 for uid in {info.owner_id, *info.host_ids} if f"u:{uid}" in self.viewer_sockets)
        return len(self.viewer_sockets) - staff
