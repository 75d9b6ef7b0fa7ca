"""One room's rules and replica state, Sans-I/O.

``RoomState.decide(actor, command, ctx)`` checks an op against the room's rules and returns
a ``Decision``: the events to publish, the durable effects (store a ban, a timeout, a vote,
save settings) the adapter performs first, and the rate-limit token the op costs
(``charge``), which the adapter takes from its ``RateLimiter`` before anything else
(refused: ``rate_limited``, nothing performed), so every node takes from one bucket when
the buckets live in Redis. It raises ``Refused`` (or ``BadField``) instead. ``decide``
changes only node-local bookkeeping (slow-mode clocks, pending marks);
the replica itself changes only in ``apply(type, data)``, called for every event of the
room in seq order, so every node that applies the same events holds the same state.

Paid events come from the server (``tip``, ``tip.refunded``, ``song.boost``; see tips.py and
songs.py): the room only applies them. ``tip.hide`` (staff) hides a tip's message, never
its money.

Each op is declared once, by ``@op(name, command, who, summary, lookup)`` on the method that
decides it (registry.py); ``decide`` dispatches through those declarations, and each event
type is declared once in roomevents.py, whose ``apply`` changes the replica.

Roles: owner (``room.owner_id``), host (in ``room.host_ids``), fan (any other signed-in
user), guest (not signed in). Who may do an op is in its declaration; everyone else is
refused with code ``forbidden``.

Refusal codes: ``forbidden``, ``banned``, ``timed_out``, ``empty``, ``too_long``,
``blocked_term``, ``slow_mode``, ``rate_limited``, ``not_found``, ``already_requested``,
``already_voted``, ``own_request``, ``queue_full``; bad values raise ``BadField`` (code ``bad_field``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rooms.errors import BadField, Refused
from rooms.metrics import TEXT_CLEANED
from rooms.moderation import MAX_TIMEOUT_S, Moderation, RoomSettings
from rooms.ports import Identity, RoomInfo, Song
from rooms.protocol import (
    ChatDelete,
    ChatPin,
    ChatSend,
    Command,
    ModBan,
    ModTimeout,
    ModUnban,
    RoomSettingsOp,
    SongDone,
    SongPlay,
    SongRequest,
    SongSkip,
    SongVote,
    TipHide,
)
from rooms.ratelimit import FAN_RATE, STAFF_RATE, Charge, Rate
from rooms.registry import MEMBERS, ROOM, STAFF, Lookup, Role, RoomEvent, op
from rooms.roomevents import (
    ChatHidden,
    ChatMessage,
    ChatPinned,
    ModNotice,
    RoomSettingsChanged,
    SongQueueChanged,
    TipHidden,
)
from rooms.songs import MAX_OPEN_REQUESTS, SongQueue, copy_queue
from rooms.terms import TermMatcher, find_blocked
from rooms.text import clean_text, matching_text
from rooms.tips import TipBoard

MAX_TEXT = 500
RECENT_CHAT = 100
PENDING_S = 10.0


__all__ = ["MEMBERS", "STAFF", "Role"]


def role_of(room: RoomInfo, user_id: int | None) -> Role:
    if user_id is None:
        return Role.GUEST
    if user_id == room.owner_id:
        return Role.OWNER
    if user_id in room.host_ids:
        return Role.HOST
    return Role.FAN


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    role: Role
    may_chat: bool = True
    """The gate's answer (a ticket tier may watch without chatting)."""

    @classmethod
    def of(cls, room: RoomInfo, identity: Identity | None, may_chat: bool = True) -> Actor:
        if identity is None:
            return cls(None, "guest", Role.GUEST, False)
        return cls(identity.user_id, identity.username, role_of(room, identity.user_id), may_chat)


@dataclass(frozen=True)
class Context:
    """What the adapter looked up before deciding, and the clock."""

    now: float
    new_id: Callable[[], str]
    target_id: int | None = None
    """For mod.* ops: the user id of ``command.user``, None when no such user."""
    song: Song | None = None
    """For song.request: the song, None when the room has no such song."""


@dataclass(frozen=True)
class Outgoing:
    type: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: RoomEvent) -> Outgoing:
        return cls(ROOM.event_for(event).name, event.serialize())


@dataclass(frozen=True)
class SaveBan:
    user_id: int
    by_user_id: int
    banned: bool


@dataclass(frozen=True)
class SaveSettings:
    settings: dict[str, Any]


@dataclass(frozen=True)
class SaveTimeout:
    """Store a timeout until ``until`` (epoch seconds), or forget it (``None``)."""

    user_id: int
    by_user_id: int
    until: float | None


@dataclass(frozen=True)
class SaveVote:
    request_id: str
    user_id: int


@dataclass(frozen=True)
class ForgetVotes:
    """The requests left the queue: their voters need not be kept."""

    request_ids: tuple[str, ...]


Effect = SaveBan | SaveSettings | SaveTimeout | SaveVote | ForgetVotes


@dataclass(frozen=True)
class Decision:
    events: tuple[Outgoing, ...] = ()
    effects: tuple[Effect, ...] = ()
    charge: Charge | None = None


@dataclass(frozen=True)
class Limits:
    max_text: int = MAX_TEXT
    recent_chat: int = RECENT_CHAT
    fan_rate: Rate = FAN_RATE
    staff_rate: Rate = STAFF_RATE


@dataclass
class _Local:
    """Node-local bookkeeping that ``decide`` may change (never replicated)."""

    last_sent: dict[int, float] = field(default_factory=dict)
    pending: dict[tuple[Any, ...], float] = field(default_factory=dict)

    def is_pending(self, key: tuple[Any, ...], now: float) -> bool:
        at = self.pending.get(key)
        return at is not None and now - at < PENDING_S


class RoomState:
    def __init__(
        self,
        info: RoomInfo,
        *,
        settings: RoomSettings | None = None,
        banned: set[int] | None = None,
        timeouts: dict[int, float] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.info = info
        self.limits = limits or Limits()
        self.settings = settings or RoomSettings()
        self._terms: TermMatcher | None = self.settings.terms_pattern()
        self.moderation = Moderation(banned, timeouts)
        self.chat: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.pinned: dict[str, Any] | None = None
        self.songs = SongQueue()
        self.tips = TipBoard()
        self.stream: dict[str, Any] = {"live": False}
        self.viewers = 0
        self._local = _Local()

    # --- deciding ------------------------------------------------------------------------

    def decide(self, actor: Actor, command: Command, ctx: Context) -> Decision:
        spec = ROOM.op_for(command)
        if actor.role not in spec.who:
            raise Refused(_forbidden_message(actor, command), "forbidden")
        if self.moderation.is_banned(actor.user_id):
            raise Refused("you are banned from this room", "banned")
        decision: Decision = spec.decide(self, actor, command, ctx)
        return decision

    @op("chat.send", ChatSend, MEMBERS, "send a chat message (rate-limited, slow mode, blocked terms)")
    def _chat_send(self, actor: Actor, cmd: ChatSend, ctx: Context) -> Decision:
        uid = actor.user_id
        if uid is None or not actor.may_chat:
            raise Refused("you may watch this room but not chat in it", "forbidden")
        until = self.moderation.timed_out_until(uid, ctx.now)
        if until is not None:
            raise Refused(f"you are timed out for {until - ctx.now:.0f} more seconds", "timed_out")
        text = visible(cmd.text, "chat").strip()
        self._check_size(text)
        charge = self._check_pace(actor, uid, ctx.now)
        self._check_terms(text)
        user = {"id": uid, "name": actor.name, "role": str(actor.role)}
        message = ChatMessage(ctx.new_id(), user, text, ctx.now)
        return Decision((Outgoing.of(message),), charge=charge)

    def _check_size(self, text: str) -> None:
        if not text:
            raise Refused("message is empty", "empty")
        if len(text) > self.limits.max_text:
            raise Refused(f"message is longer than {self.limits.max_text} characters", "too_long")

    def _check_terms(self, text: str) -> None:
        term = find_blocked(self._terms, matching_text(text))
        if term is not None:
            raise Refused(f"message contains a blocked term ({term!r})", "blocked_term")

    def _check_pace(self, actor: Actor, uid: int, now: float) -> Charge:
        """Slow mode here; the rate limit is the token the message costs (``charge``)."""
        slow = self.settings.slow_mode_s
        last = self._local.last_sent.get(uid)
        if actor.role is Role.FAN and slow and last is not None and now - last < slow:
            raise Refused(f"slow mode: wait {slow - (now - last):.0f} more seconds", "slow_mode")
        self._local.last_sent[uid] = now
        return Charge(uid, self.limits.fan_rate if actor.role is Role.FAN else self.limits.staff_rate)

    @op("chat.delete", ChatDelete, STAFF, "hide a message for everyone")
    def _chat_delete(self, actor: Actor, cmd: ChatDelete, ctx: Context) -> Decision:
        if cmd.message_id not in self.chat:
            raise Refused("no such message (it may be too old)", "not_found")
        return Decision(self._hide_events([cmd.message_id]))

    def _hide_events(self, ids: list[str]) -> tuple[Outgoing, ...]:
        if not ids:
            return ()
        events = [Outgoing.of(ChatHidden(tuple(ids)))]
        if self.pinned is not None and self.pinned.get("id") in ids:
            events.append(Outgoing.of(ChatPinned(None)))
        return tuple(events)

    @op("chat.pin", ChatPin, STAFF, "pin a message (message_id null: unpin)")
    def _chat_pin(self, actor: Actor, cmd: ChatPin, ctx: Context) -> Decision:
        if cmd.message_id is None:
            return Decision((Outgoing.of(ChatPinned(None)),))
        message = self.chat.get(cmd.message_id)
        if message is None:
            raise Refused("no such message (it may be too old)", "not_found")
        return Decision((Outgoing.of(ChatPinned(message)),))

    def _target(self, user: str, ctx: Context) -> int:
        target = ctx.target_id
        if target is None:
            raise Refused(f"no user named {user!r}", "not_found")
        if role_of(self.info, target) in STAFF:
            raise Refused("the owner and hosts cannot be moderated", "forbidden")
        return target

    def _notice(
        self,
        action: str,
        user: str,
        target: int,
        actor: Actor,
        seconds: int | None = None,
        until: float | None = None,
    ) -> Outgoing:
        return Outgoing.of(ModNotice(action, user, target, actor.name, seconds, until))

    @op("mod.timeout", ModTimeout, STAFF, "mute a fan for seconds (1 s to 7 days)", Lookup.USER)
    def _mod_timeout(self, actor: Actor, cmd: ModTimeout, ctx: Context) -> Decision:
        target = self._target(cmd.user, ctx)
        if not 1 <= cmd.seconds <= MAX_TIMEOUT_S:
            raise BadField(f"seconds must be 1 to {MAX_TIMEOUT_S}")
        assert actor.user_id is not None
        until = ctx.now + cmd.seconds
        notice = self._notice("timeout", cmd.user, target, actor, seconds=cmd.seconds, until=until)
        return Decision((notice,), (SaveTimeout(target, actor.user_id, until),))

    @op("mod.ban", ModBan, STAFF, "ban a fan: messages hidden, sockets closed", Lookup.USER)
    def _mod_ban(self, actor: Actor, cmd: ModBan, ctx: Context) -> Decision:
        target = self._target(cmd.user, ctx)
        assert actor.user_id is not None  # staff are signed in
        ids = [mid for mid, m in self.chat.items() if m["user"]["id"] == target]
        events = (self._notice("ban", cmd.user, target, actor), *self._hide_events(ids))
        effects: tuple[Effect, ...] = (SaveBan(target, actor.user_id, True),)
        request = self.songs.open_request_of(target)
        if request is not None:  # a banned fan's request leaves the queue with them
            removal = self._queue_decision({"op": "skip", "request_id": request.id})
            events, effects = (*events, *removal.events), (*effects, *removal.effects)
        return Decision(events, effects)

    @op("mod.unban", ModUnban, STAFF, "lift a ban or a timeout", Lookup.USER)
    def _mod_unban(self, actor: Actor, cmd: ModUnban, ctx: Context) -> Decision:
        target = self._target(cmd.user, ctx)
        assert actor.user_id is not None
        notice = self._notice("unban", cmd.user, target, actor)
        effects = (SaveBan(target, actor.user_id, False), SaveTimeout(target, actor.user_id, None))
        return Decision((notice,), effects)

    @op("room.settings", RoomSettingsOp, STAFF, "slow mode, who may chat, blocked terms")
    def _room_settings(self, actor: Actor, cmd: RoomSettingsOp, ctx: Context) -> Decision:
        out = Outgoing.of(RoomSettingsChanged(self.settings.updated(cmd)))
        return Decision((out,), (SaveSettings(out.data),))

    @op("song.request", SongRequest, MEMBERS, "request a song of the catalog", Lookup.SONG)
    def _song_request(self, actor: Actor, cmd: SongRequest, ctx: Context) -> Decision:
        uid = actor.user_id
        assert uid is not None  # guests are refused by the op's ``who``
        song = ctx.song
        if song is None:
            raise Refused(f"this room has no song {cmd.song_id}", "not_found")
        if self.songs.open_request_of(uid) or self._local.is_pending(("request", uid), ctx.now):
            raise Refused("you already have a song in the queue", "already_requested")
        if len(self.songs) >= MAX_OPEN_REQUESTS:
            raise Refused("the song queue is full", "queue_full")
        request = {
            "id": ctx.new_id(),
            "song_id": song.id,
            "title": visible(song.title, "song"),
            "artist": visible(song.artist, "song"),
            "user_id": uid,
            "user_name": actor.name,
            "ts": ctx.now,
            "boost_minor": 0,
        }
        self._local.pending[("request", uid)] = ctx.now
        return self._queue_decision({"op": "request", "request": request})

    def _queue_decision(self, change: dict[str, Any], *effects: Effect) -> Decision:
        preview = copy_queue(self.songs)
        preview.apply(change)
        gone = tuple(rid for rid in self.songs.requests if preview.get(rid) is None)
        if gone:  # skipped, done, or moved out by a play: their voters need not be kept
            effects = (*effects, ForgetVotes(gone))
        event = Outgoing.of(SongQueueChanged(preview.wire(), change))
        return Decision((event,), effects)

    def _request(self, request_id: str) -> None:
        if self.songs.get(request_id) is None:
            raise Refused("no such song request", "not_found")

    @op("song.vote", SongVote, MEMBERS, "upvote someone else's request, once")
    def _song_vote(self, actor: Actor, cmd: SongVote, ctx: Context) -> Decision:
        uid = actor.user_id
        assert uid is not None
        self._request(cmd.request_id)
        entry = self.songs.get(cmd.request_id)
        key = ("vote", cmd.request_id, uid)
        if entry is not None and uid in entry.voters or self._local.is_pending(key, ctx.now):
            raise Refused("you already voted for this request", "already_voted")
        if entry is not None and entry.user_id == uid:
            raise Refused("you cannot vote for your own request", "own_request")
        self._local.pending[key] = ctx.now
        change = {"op": "vote", "request_id": cmd.request_id, "user_id": uid}
        return self._queue_decision(change, SaveVote(cmd.request_id, uid))

    @op("song.play", SongPlay, STAFF, "now playing")
    @op("song.skip", SongSkip, STAFF, "take a request out of the queue")
    @op("song.done", SongDone, STAFF, "the request was played")
    def _song_status(
        self, actor: Actor, cmd: SongPlay | SongSkip | SongDone, ctx: Context
    ) -> Decision:
        self._request(cmd.request_id)
        op = {SongPlay: "play", SongSkip: "skip", SongDone: "done"}[type(cmd)]
        return self._queue_decision({"op": op, "request_id": cmd.request_id})

    def boosted(self, boost: dict[str, Any]) -> Decision:
        """After a ``song.boost`` event: the ``song.queue`` that carries it (none when the
        request is gone), so a replica started from the last queue still has the boost."""
        try:
            change = {
                "op": "boost",
                "request_id": str(boost["request_id"]),
                "boost_id": str(boost["boost_id"]),
                "amount": boost["amount"],
            }
            if self.songs.get(change["request_id"]) is None:
                return Decision()
            return self._queue_decision(change)
        except (KeyError, TypeError, ValueError):
            return Decision()

    @op("tip.hide", TipHide, STAFF, "hide a tip's message (never its money)")
    def _tip_hide(self, actor: Actor, cmd: TipHide, ctx: Context) -> Decision:
        if self.tips.get(cmd.tip_id) is None:
            raise Refused("no such tip (it may be too old)", "not_found")
        return Decision((Outgoing.of(TipHidden(cmd.tip_id)),))

    # --- applying ------------------------------------------------------------------------

    def apply(self, type_: str, data: dict[str, Any]) -> bool:
        """Apply one published event to the replica (call in seq order).

        A type nobody declared changes nothing (True); an event whose data does not have the
        declared shape (another version of us, a hand-made publish) changes nothing and
        returns False."""
        spec = ROOM.event_named(type_)
        if spec is None:
            return True
        try:
            spec.parse(data).apply(self)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        return True

    def restore(self, type_: str, data: dict[str, Any]) -> bool:
        """Load the last sticky event of a type that history no longer holds (its
        ``restore`` where it has one: ``song.queue`` takes its whole queue)."""
        spec = ROOM.event_named(type_)
        if spec is None:
            return True
        try:
            event = spec.parse(data)
            getattr(event, "restore", event.apply)(self)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        return True

    # --- what the events change (roomevents.py calls these) ------------------------------

    def add_chat(self, message: dict[str, Any]) -> None:
        self.chat[str(message["id"])] = message
        while len(self.chat) > self.limits.recent_chat:
            self.chat.popitem(last=False)

    def hide_chat(self, message_ids: Iterable[str]) -> None:
        ids = set(message_ids)
        for mid in ids:
            self.chat.pop(mid, None)
        if self.pinned is not None and self.pinned.get("id") in ids:
            self.pinned = None

    def set_settings(self, settings: RoomSettings) -> None:
        self.settings = settings
        self._terms = settings.terms_pattern()

    def change_queue(self, change: dict[str, Any]) -> None:
        self.songs.apply(change)
        self._forget_pending(change)

    def _forget_pending(self, change: dict[str, Any]) -> None:
        if change.get("op") == "request":
            self._local.pending.pop(("request", change["request"]["user_id"]), None)
        elif change.get("op") == "vote":
            self._local.pending.pop(("vote", change["request_id"], change["user_id"]), None)

    def not_published(self, decision: Decision) -> None:
        """The adapter could not publish ``decision`` (the bus is down): forget what it
        marked pending, so the user's retry is judged afresh."""
        for out in decision.events:
            if out.type == "song.queue":
                self._forget_pending(out.data.get("change") or {})

    def snapshot(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "chat": list(self.chat.values()),
            "queue": self.songs.wire(),
            "pinned": self.pinned,
            "settings": self.settings.serialize(),
            "viewers": self.viewers,
            "tips": self.tips.recent(),
            "supporters": self.tips.supporters(),
        }


def rate_limited(wait: float) -> Refused:
    """The refusal for a ``charge`` the rate limiter did not grant (wait: seconds)."""
    return Refused(f"too many messages: wait {wait:.1f} seconds", "rate_limited")


def visible(text: str, field: str) -> str:
    """``text`` as other users will see it (rooms.text.clean_text), counted when changed."""
    cleaned = clean_text(text)
    if cleaned != text:
        TEXT_CLEANED.labels(field).inc()
    return cleaned


def _forbidden_message(actor: Actor, command: Command) -> str:
    if actor.role is Role.GUEST:
        return "sign in to do that"
    return "only the owner and hosts may do that"
