"""The room's event types, each declared once: wire name, data shape, how it changes the
replica, and whether the bus keeps the last one beyond history (``sticky``). Sans-I/O.

Each is a frozen dataclass with ``parse(data)`` (raises ``KeyError``/``TypeError``/
``ValueError`` on a shape it does not know: the replica then ignores the event),
``serialize()`` (the ``data`` map as it goes on the wire, unchanged from before these types
existed) and ``apply(room)`` (room: ``core.RoomState``). ``restore(room)``, where present,
is how a sticky event older than history is loaded (``song.queue`` takes its whole queue).

Types the server publishes for its own readers (``stream.end``, ``restream.state``,
``alert.test``, ...) pass through the room untouched and need no declaration here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rooms.moderation import RoomSettings
from rooms.registry import event
from rooms.songs import SongQueue
from rooms.tips import Tip

if TYPE_CHECKING:
    from rooms.core import RoomState


def _str_list(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list")
    return tuple(str(v) for v in value)


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be an object")
    return value


@event("chat.message", "a chat message: id, user {id, name, role}, text, ts")
@dataclass(frozen=True)
class ChatMessage:
    id: str
    user: dict[str, Any]
    text: str
    ts: float

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ChatMessage:
        text = data["text"]
        if not isinstance(text, str):
            raise TypeError("text must be a string")
        return cls(str(data["id"]), _dict(data["user"], "user"), text, float(data["ts"]))

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "text": self.text, "ts": self.ts}

    def apply(self, room: RoomState) -> None:
        room.add_chat(self.serialize())


@event("chat.hidden", "staff hid these messages (message_ids) for everyone")
@dataclass(frozen=True)
class ChatHidden:
    message_ids: tuple[str, ...]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ChatHidden:
        return cls(_str_list(data.get("message_ids", []), "message_ids"))

    def serialize(self) -> dict[str, Any]:
        return {"message_ids": list(self.message_ids)}

    def apply(self, room: RoomState) -> None:
        room.hide_chat(self.message_ids)


@event("chat.pinned", "the pinned message (null: none)", sticky=True)
@dataclass(frozen=True)
class ChatPinned:
    message: dict[str, Any] | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ChatPinned:
        message = data.get("message")
        return cls(None if message is None else _dict(message, "message"))

    def serialize(self) -> dict[str, Any]:
        return {"message": self.message}

    def apply(self, room: RoomState) -> None:
        room.pinned = self.message


@event("room.settings", "slow_mode_s, chat (who may chat), blocked_terms", sticky=True)
@dataclass(frozen=True)
class RoomSettingsChanged:
    settings: RoomSettings

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RoomSettingsChanged:
        return cls(RoomSettings.parse(_dict(data, "data")))

    def serialize(self) -> dict[str, Any]:
        return self.settings.serialize()

    def apply(self, room: RoomState) -> None:
        room.set_settings(self.settings)


@event("mod.notice", "action (timeout, ban, unban), user, user_id, by; seconds and until")
@dataclass(frozen=True)
class ModNotice:
    action: str
    user: str
    user_id: int
    by: str
    seconds: int | None = None
    until: float | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ModNotice:
        user_id = data["user_id"]
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise TypeError("user_id must be an integer")
        until = data.get("until")
        seconds = data.get("seconds")
        return cls(
            str(data["action"]),
            str(data.get("user", "")),
            user_id,
            str(data.get("by", "")),
            None if seconds is None else int(seconds),
            None if until is None else float(until),
        )

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "user": self.user,
            "user_id": self.user_id,
            "by": self.by,
        }
        if self.seconds is not None:
            data["seconds"] = self.seconds
        if self.until is not None:
            data["until"] = self.until
        return data

    def apply(self, room: RoomState) -> None:
        room.moderation.apply_notice(self.serialize())


@event("song.queue", "the whole queue after one change (request, vote, play, ...)", sticky=True)
@dataclass(frozen=True)
class SongQueueChanged:
    queue: list[dict[str, Any]]
    change: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> SongQueueChanged:
        queue = data.get("queue", [])
        if not isinstance(queue, list):
            raise TypeError("queue must be a list")
        return cls(queue, _dict(data.get("change") or {}, "change"))

    def serialize(self) -> dict[str, Any]:
        return {"queue": self.queue, "change": self.change}

    def apply(self, room: RoomState) -> None:
        room.change_queue(self.change)

    def restore(self, room: RoomState) -> None:
        room.songs = SongQueue.from_wire(list(self.queue))


@event("stream.state", "the live stream's state (live, state, tracks, ...)", sticky=True)
@dataclass(frozen=True)
class StreamState:
    state: dict[str, Any]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> StreamState:
        return cls(_dict(data, "data"))

    def serialize(self) -> dict[str, Any]:
        return self.state

    def apply(self, room: RoomState) -> None:
        room.stream = self.state


@event("presence", "viewers: people watching on every node", sticky=True)
@dataclass(frozen=True)
class Presence:
    viewers: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Presence:
        return cls(int(data.get("viewers", 0)))

    def serialize(self) -> dict[str, Any]:
        return {"viewers": self.viewers}

    def apply(self, room: RoomState) -> None:
        room.viewers = self.viewers


@event("tip", "a paid tip: id, from, amount (minor units), currency, message, ts")
@dataclass(frozen=True)
class TipPaid:
    data: dict[str, Any]
    """Kept whole: the server writes it (tips.py reads it)."""

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TipPaid:
        Tip.parse(data)  # the shape check
        return cls(data)

    def serialize(self) -> dict[str, Any]:
        return self.data

    def apply(self, room: RoomState) -> None:
        room.tips.add(self.data)


@event("tip.refunded", "the tip (id) was refunded: it leaves the supporters' totals")
@dataclass(frozen=True)
class TipRefunded:
    id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TipRefunded:
        return cls(str(data["id"]))

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id}

    def apply(self, room: RoomState) -> None:
        room.tips.refund(self.serialize())


@event("tip.hidden", "staff hid the tip's (id) message")
@dataclass(frozen=True)
class TipHidden:
    id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TipHidden:
        return cls(str(data["id"]))

    def serialize(self) -> dict[str, Any]:
        return {"id": self.id}

    def apply(self, room: RoomState) -> None:
        room.tips.hide(self.serialize())


@event("song.boost", "a paid boost of a request: request_id, boost_id, amount")
@dataclass(frozen=True)
class SongBoost:
    request_id: str
    boost_id: str
    amount: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> SongBoost:
        amount = data["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("amount must be an integer")
        return cls(str(data["request_id"]), str(data["boost_id"]), amount)

    def serialize(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "boost_id": self.boost_id, "amount": self.amount}

    def apply(self, room: RoomState) -> None:
        room.songs.boost(self.request_id, self.boost_id, self.amount)


@event("room.changed", "hosts, catalog or settings changed through REST: every node reloads")
@dataclass(frozen=True)
class RoomChanged:
    @classmethod
    def parse(cls, data: dict[str, Any]) -> RoomChanged:
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {}

    def apply(self, room: RoomState) -> None:
        return None


@event("access.revoked", "the user's (user_id) ticket no longer admits them: sockets close")
@dataclass(frozen=True)
class AccessRevoked:
    user_id: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AccessRevoked:
        return cls(int(data["user_id"]))

    def serialize(self) -> dict[str, Any]:
        return {"user_id": self.user_id}

    def apply(self, room: RoomState) -> None:
        return None


@event("dropped", "stands in for an event that could not be encoded (clients ignore it)")
@dataclass(frozen=True)
class Dropped:
    @classmethod
    def parse(cls, data: dict[str, Any]) -> Dropped:
        return cls()

    def serialize(self) -> dict[str, Any]:
        return {}

    def apply(self, room: RoomState) -> None:
        return None
