"""What the rooms package needs from the rest of the system, as small Protocols.

``server`` implements these (SQL storage, ticketing's gate) and wires them in; rooms
never imports another package of ours (see DESIGN.md, "Modules and the direction of imports").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Identity:
    """A signed-in user as the server authenticated them."""

    user_id: int
    username: str


@dataclass(frozen=True)
class RoomInfo:
    """A room's durable facts: who owns it, who hosts it, whether it is free."""

    id: int
    slug: str
    title: str
    owner_id: int
    host_ids: frozenset[int] = field(default_factory=frozenset)
    free: bool = True


@dataclass(frozen=True)
class Song:
    id: int
    title: str
    artist: str


@dataclass(frozen=True)
class Admission:
    """The gate's answer for one user and one room.

    A refusal may say more than its close reason: with ``code`` and ``info`` the socket is
    sent ``{"type": "not_admitted", "code", "message": reason, "data": info}`` before it
    closes (a paid show's public facts: title, start time, tiers and prices)."""

    may_join: bool
    may_chat: bool
    reason: str = ""
    code: str = ""
    info: dict[str, Any] | None = None


class RoomStore(Protocol):
    """Durable room state the server keeps in its database."""

    async def room(self, slug: str) -> RoomInfo | None: ...

    async def user_id(self, username: str) -> int | None: ...

    async def banned_user_ids(self, room_id: int) -> set[int]: ...

    async def set_ban(self, room_id: int, user_id: int, by_user_id: int, banned: bool) -> None: ...

    async def timeouts(self, room_id: int, now: float) -> dict[int, float]:
        """The room's timeouts that end after ``now``: user id -> until (epoch seconds)."""
        ...

    async def set_timeout(
        self, room_id: int, user_id: int, by_user_id: int, until: float | None
    ) -> None:
        """Store a timeout until ``until`` (replacing any), or forget it (``None``)."""
        ...

    async def song_voters(self, room_id: int) -> dict[str, set[int]]:
        """Who voted for each song request of the room still kept (request id -> users)."""
        ...

    async def add_vote(self, room_id: int, request_id: str, user_id: int) -> bool:
        """Store one vote; False when this user's vote for the request was stored before."""
        ...

    async def remove_vote(self, room_id: int, request_id: str, user_id: int) -> None:
        """Take back a stored vote whose event could not be published."""
        ...

    async def forget_votes(self, room_id: int, request_ids: tuple[str, ...]) -> None: ...

    async def song(self, room_id: int, song_id: int) -> Song | None: ...

    async def load_settings(self, room_id: int) -> dict[str, Any]: ...

    async def save_settings(self, room_id: int, settings: dict[str, Any]) -> None: ...


class Gate(Protocol):
    """Decides who may join a room's socket and who may chat in it."""

    async def admit(self, room: RoomInfo, identity: Identity | None) -> Admission: ...


class LiveStreams(Protocol):
    """This node's media hub, asked for the state of a stream it holds.

    The hub that holds a stream is its truth; the room's replica (built from bus history)
    can be stale, e.g. after Redis restarted empty. ``None`` means "not held here": the
    replica's state stands.
    """

    def held_state(self, slug: str) -> dict[str, Any] | None: ...


class FreeRoomGate:
    """Today's gate: free rooms admit everyone; guests watch, signed-in users chat."""

    async def admit(self, room: RoomInfo, identity: Identity | None) -> Admission:
        if not room.free:
            return Admission(False, False, "this room needs a ticket")
        return Admission(True, identity is not None)
