"""Where a room op and a room event are declared, once. Sans-I/O.

An **op** (client -> server, ``{"op": NAME, ...}``) is declared by putting ``@op(...)`` on
the function that decides it (core.py): its wire name, its command dataclass (whose
``parse(fields, client_id)`` reads the frame), who may do it, what the adapter looks up
before deciding (``Lookup``) and a one-line summary. An **event** (server -> client,
``{"type": NAME, "data": {...}}``) is declared by ``@event(...)`` on its frozen dataclass
(roomevents.py): its wire name, whether the bus keeps its last one beyond history (so a
node that starts the room later still knows that piece of state: ``sticky``), a summary;
the class has ``parse(data)``, ``serialize()`` and ``apply(room)``.

Everything else reads these declarations: the frame parser (ops.py), the authorization
check and the dispatch in ``RoomState.decide``/``apply``, the bus's sticky types, the
gateway's look-ups, the protocol page (``describe``) and the tests. Adding an op or an event
is one declaration plus its tests.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


class Role(enum.StrEnum):
    OWNER = "owner"
    HOST = "host"
    FAN = "fan"
    GUEST = "guest"


STAFF = frozenset({Role.OWNER, Role.HOST})
MEMBERS = frozenset({Role.OWNER, Role.HOST, Role.FAN})


class Lookup(enum.Enum):
    """What the adapter reads from the store before deciding (``Context``)."""

    NONE = "none"
    USER = "user"
    """``command.user`` (a username) -> ``Context.target_id``."""
    SONG = "song"
    """``command.song_id`` in the room's catalog -> ``Context.song``."""


@dataclass(frozen=True)
class OpSpec:
    name: str
    command: type[Any]
    who: frozenset[Role]
    decide: Callable[..., Any]
    """``decide(room_state, actor, command, context) -> Decision``."""
    lookup: Lookup
    summary: str

    def parse(self, fields: dict[str, Any], client_id: Any) -> Any:
        return self.command.parse(fields, client_id)


class RoomEvent(Protocol):
    def serialize(self) -> dict[str, Any]: ...

    def apply(self, room: Any) -> None: ...


@dataclass(frozen=True)
class EventSpec:
    name: str
    cls: type[Any]
    sticky: bool
    summary: str

    def parse(self, data: dict[str, Any]) -> Any:
        return self.cls.parse(data)


class DuplicateDeclaration(Exception):
    """An op or event name, or a command type, was declared twice (a programming error)."""


F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=type)


class Registry:
    def __init__(self) -> None:
        self._ops: dict[str, OpSpec] = {}
        self._by_command: dict[type, OpSpec] = {}
        self._events: dict[str, EventSpec] = {}
        self._by_class: dict[type, EventSpec] = {}

    # --- declaring -----------------------------------------------------------------------

    def op(
        self,
        name: str,
        command: type,
        who: frozenset[Role],
        summary: str,
        lookup: Lookup = Lookup.NONE,
    ) -> Callable[[F], F]:
        def declare(decide: F) -> F:
            if name in self._ops or command in self._by_command:
                raise DuplicateDeclaration(f"op {name!r} ({command.__name__}) declared twice")
            spec = OpSpec(name, command, who, decide, lookup, summary)
            self._ops[name] = self._by_command[command] = spec
            return decide

        return declare

    def event(self, name: str, summary: str, *, sticky: bool = False) -> Callable[[E], E]:
        def declare(cls: E) -> E:
            if name in self._events:
                raise DuplicateDeclaration(f"event {name!r} declared twice")
            self._events[name] = self._by_class[cls] = EventSpec(name, cls, sticky, summary)
            return cls

        return declare

    # --- reading -------------------------------------------------------------------------

    def op_named(self, name: str) -> OpSpec | None:
        return self._ops.get(name)

    def op_for(self, command: object) -> OpSpec:
        return self._by_command[type(command)]

    def event_named(self, name: str) -> EventSpec | None:
        return self._events.get(name)

    def event_for(self, event: object) -> EventSpec:
        return self._by_class[type(event)]

    def ops(self) -> Iterator[OpSpec]:
        return iter(sorted(self._ops.values(), key=lambda s: s.name))

    def events(self) -> Iterator[EventSpec]:
        return iter(sorted(self._events.values(), key=lambda s: s.name))

    def op_names(self) -> frozenset[str]:
        return frozenset(self._ops)

    def sticky_types(self) -> frozenset[str]:
        return frozenset(s.name for s in self._events.values() if s.sticky)


ROOM = Registry()
"""The one registry of room ops and events (filled by core.py and roomevents.py)."""

op = ROOM.op
event = ROOM.event
