"""RoomState: the authorization matrix, chat rules, moderation and the song queue."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from rooms.core import (
    Actor,
    Context,
    Decision,
    ForgetVotes,
    Limits,
    Role,
    RoomState,
    SaveBan,
    SaveSettings,
    SaveTimeout,
    SaveVote,
)
from rooms.errors import BadField, Refused
from rooms.moderation import RoomSettings
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
from rooms.ratelimit import MemoryRateLimiter, Rate

OWNER, HOST, FAN, FAN2, TROLL = 1, 2, 3, 4, 5
NAMES = {OWNER: "olga", HOST: "hank", FAN: "fay", FAN2: "finn", TROLL: "troll"}
ROOM = RoomInfo(id=7, slug="olga", title="Olga live", owner_id=OWNER, host_ids=frozenset({HOST}))
SONG = Song(11, "Blue", "Olga")


def actor(uid: int | None) -> Actor:
    identity = None if uid is None else Identity(uid, NAMES[uid])
    return Actor.of(ROOM, identity)


class Room:
    """A RoomState plus a fake bus: decisions are applied at once, in order."""

    def __init__(self, **kw: Any) -> None:
        self.state = RoomState(ROOM, **kw)
        self.now = 1000.0
        self.ids = (f"m{i}" for i in itertools.count(1))
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.song = SONG
        self.limiter = MemoryRateLimiter()

    def ctx(self, command: Command) -> Context:
        target = None
        if isinstance(command, ModTimeout | ModBan | ModUnban):
            target = {v: k for k, v in NAMES.items()}.get(command.user)
        known = self.song
        song = known if isinstance(command, SongRequest) and command.song_id == known.id else None
        return Context(self.now, lambda: next(self.ids), target, song)

    def do(self, uid: int | None, command: Command) -> Decision:
        decision = self.state.decide(actor(uid), command, self.ctx(command))
        if decision.charge is not None:  # as the gateway does, with the in-process limiter
            charge = decision.charge
            if self.limiter.take_now(ROOM.slug, charge.user_id, charge.rate, self.now) > 0:
                raise Refused("rate limited", "rate_limited")
        for out in decision.events:
            self.events.append((out.type, out.data))
            self.state.apply(out.type, out.data)
        return decision

    def refused(self, uid: int | None, command: Command) -> str:
        with pytest.raises(Refused) as info:
            self.do(uid, command)
        return info.value.code

    def say(self, uid: int, text: str = "hi") -> str:
        return str(self.do(uid, ChatSend(text)).events[0].data["id"])


def test_roles() -> None:
    assert [actor(u).role for u in (OWNER, HOST, FAN, None)] == [
        Role.OWNER,
        Role.HOST,
        Role.FAN,
        Role.GUEST,
    ]


def prepared() -> tuple[Room, dict[str, str]]:
    room = Room()
    mid = room.say(FAN, "hello")
    room.do(FAN2, SongRequest(SONG.id))
    rid = room.state.songs.ordered()[0].id
    room.state.apply("tip", {"id": "t1", "from": "fay", "amount": 500, "currency": "USD", "message": "hi"})
    return room, {"mid": mid, "rid": rid, "tid": "t1"}


def commands(ids: dict[str, str]) -> dict[str, Command]:
    return {
        "chat.send": ChatSend("hi"),
        "chat.delete": ChatDelete(ids["mid"]),
        "chat.pin": ChatPin(ids["mid"]),
        "mod.timeout": ModTimeout("troll", 60),
        "mod.ban": ModBan("troll"),
        "mod.unban": ModUnban("troll"),
        "room.settings": RoomSettingsOp(slow_mode_s=5),
        "song.request": SongRequest(SONG.id),
        "song.vote": SongVote(ids["rid"]),
        "song.play": SongPlay(ids["rid"]),
        "song.skip": SongSkip(ids["rid"]),
        "song.done": SongDone(ids["rid"]),
        "tip.hide": TipHide(ids["tid"]),
    }


MEMBER_OPS = {"chat.send", "song.request", "song.vote"}
ALL_OPS = list(commands({"mid": "", "rid": "", "tid": ""}))
WHO = {"owner": OWNER, "host": HOST, "fan": FAN, "guest": None}


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("who", list(WHO))
def test_authorization_matrix(op: str, who: str) -> None:
    room, ids = prepared()
    command = commands(ids)[op]
    allowed = who in ("owner", "host") or (who == "fan" and op in MEMBER_OPS)
    if allowed:
        decision = room.do(WHO[who], command)
        assert decision.events
    else:
        assert room.refused(WHO[who], command) == "forbidden"


def test_chat_message_event() -> None:
    room = Room()
    decision = room.do(FAN, ChatSend("  hello  "))
    (out,) = decision.events
    assert out.type == "chat.message"
    assert out.data == {
        "id": "m1",
        "user": {"id": FAN, "name": "fay", "role": "fan"},
        "text": "hello",
        "ts": 1000.0,
    }
    assert room.state.snapshot()["chat"] == [out.data]


def test_bidi_controls_and_zero_width_characters_are_stripped() -> None:
    room = Room()
    sent = room.do(FAN, ChatSend("\u202ehello\u202c \u200bworld\u2066!\u2069\ufeff")).events[0]
    assert sent.data["text"] == "hello world!"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joiners between visible: kept
    assert room.do(FAN2, ChatSend(f"\u200d{family}\u200d")).events[0].data["text"] == family
    assert room.refused(OWNER, ChatSend("\u200b\u200e\u3164")) == "empty"


def test_invisible_characters_do_not_hide_blocked_terms() -> None:
    room = Room()
    room.do(OWNER, RoomSettingsOp(blocked_terms=("spam", "free money")))
    for text in ("sp\u200bam", "sp\u200dam", "sp\u00adam", "free\u202e money"):
        assert room.refused(FAN, ChatSend(text)) == "blocked_term", text


def test_song_request_text_is_stripped_too() -> None:
    room = Room()
    room.song = Song(11, "Blue\u202e Hour", "\u200bOlga")
    request = room.do(FAN, SongRequest(11)).events[0].data["change"]["request"]
    assert (request["title"], request["artist"]) == ("Blue Hour", "Olga")


def test_gate_may_chat_false_is_forbidden() -> None:
    room = Room()
    watcher = Actor(FAN, "fay", Role.FAN, may_chat=False)
    with pytest.raises(Refused) as info:
        room.state.decide(watcher, ChatSend("hi"), room.ctx(ChatSend("hi")))
    assert info.value.code == "forbidden"


def test_length_limit_and_empty() -> None:
    room = Room()
    room.do(FAN, ChatSend("x" * 500))
    assert room.refused(FAN, ChatSend("x" * 501)) == "too_long"
    assert room.refused(FAN, ChatSend("   ")) == "empty"


def test_fan_rate_limit_with_time_passed_in() -> None:
    room = Room()
    for _ in range(20):
        room.say(FAN)
    assert room.refused(FAN, ChatSend("one more")) == "rate_limited"
    room.now += 1.4  # 20 tokens per 30 s: one token every 1.5 s
    assert room.refused(FAN, ChatSend("one more")) == "rate_limited"
    room.now += 0.2
    room.say(FAN)
    assert room.refused(FAN, ChatSend("again")) == "rate_limited"
    room.say(FAN2)  # buckets are per user


def test_hosts_have_a_bigger_bucket() -> None:
    room = Room()
    for _ in range(100):
        room.say(HOST)
    assert room.refused(HOST, ChatSend("x")) == "rate_limited"


def test_rates_are_configurable() -> None:
    room = Room(limits=Limits(fan_rate=Rate(2, 10.0)))
    room.say(FAN)
    room.say(FAN)
    assert room.refused(FAN, ChatSend("x")) == "rate_limited"


def test_slow_mode_applies_to_fans_only() -> None:
    room = Room(settings=RoomSettings(slow_mode_s=10))
    room.say(FAN)
    room.now += 9.9
    assert room.refused(FAN, ChatSend("x")) == "slow_mode"
    room.say(HOST)
    room.say(HOST)
    room.now += 0.1
    room.say(FAN)


def test_blocked_terms() -> None:
    room = Room()
    room.do(OWNER, RoomSettingsOp(blocked_terms=("spam*", "free money", "*coin")))
    assert room.refused(FAN, ChatSend("total SPAMMER here")) == "blocked_term"
    assert room.refused(FAN, ChatSend("get Free  Money now".replace("  ", " "))) == "blocked_term"
    assert room.refused(FAN, ChatSend("buy bitcoin")) == "blocked_term"
    room.say(FAN, "a classy coinage of words")


def test_settings_validation_and_effects() -> None:
    room = Room()
    decision = room.do(HOST, RoomSettingsOp(slow_mode_s=3, chat="signed_in"))
    expected = {"slow_mode_s": 3, "chat": "signed_in", "blocked_terms": []}
    assert decision.effects == (SaveSettings(expected),)
    assert room.events[-1] == ("room.settings", expected)
    for bad in (
        RoomSettingsOp(slow_mode_s=2),
        RoomSettingsOp(slow_mode_s=121),
        RoomSettingsOp(chat="all"),
    ):
        with pytest.raises(BadField):
            room.do(HOST, bad)
    room.do(HOST, RoomSettingsOp(slow_mode_s=0))
    assert room.state.settings.slow_mode_s == 0


def test_delete_hides_and_unpins() -> None:
    room = Room()
    mid = room.say(FAN, "pin me")
    room.do(HOST, ChatPin(mid))
    assert room.state.snapshot()["pinned"]["id"] == mid
    room.do(HOST, ChatDelete(mid))
    assert room.events[-2:] == [
        ("chat.hidden", {"message_ids": [mid]}),
        ("chat.pinned", {"message": None}),
    ]
    assert room.state.snapshot()["chat"] == [] and room.state.pinned is None
    assert room.refused(HOST, ChatDelete(mid)) == "not_found"
    assert room.refused(HOST, ChatPin("nope")) == "not_found"


def test_ban_hides_messages_stores_ban_and_refuses() -> None:
    room = Room()
    a, b = room.say(TROLL, "one"), room.say(TROLL, "two")
    keep = room.say(FAN, "nice")
    decision = room.do(HOST, ModBan("troll"))
    assert decision.effects == (SaveBan(TROLL, HOST, True),)
    assert room.events[-2] == (
        "mod.notice",
        {"action": "ban", "user": "troll", "user_id": TROLL, "by": "hank"},
    )
    assert room.events[-1] == ("chat.hidden", {"message_ids": [a, b]})
    assert [m["id"] for m in room.state.snapshot()["chat"]] == [keep]
    assert room.refused(TROLL, ChatSend("let me in")) == "banned"
    assert room.refused(TROLL, SongRequest(SONG.id)) == "banned"
    decision = room.do(OWNER, ModUnban("troll"))
    assert decision.effects == (SaveBan(TROLL, OWNER, False), SaveTimeout(TROLL, OWNER, None))
    room.say(TROLL, "sorry")


def test_staff_cannot_be_moderated_and_unknown_users() -> None:
    room = Room()
    assert room.refused(HOST, ModBan("olga")) == "forbidden"
    assert room.refused(OWNER, ModTimeout("hank", 10)) == "forbidden"
    assert room.refused(HOST, ModBan("nobody")) == "not_found"


def test_timeout_expires() -> None:
    room = Room()
    room.do(HOST, ModTimeout("troll", 60))
    assert room.events[-1][1]["until"] == 1060.0
    assert room.refused(TROLL, ChatSend("x")) == "timed_out"
    room.now += 60
    room.say(TROLL)
    with pytest.raises(BadField):
        room.do(HOST, ModTimeout("troll", 0))


def test_banned_users_loaded_from_store() -> None:
    room = Room(banned={TROLL})
    assert room.refused(TROLL, ChatSend("x")) == "banned"


def queue_ids(room: Room) -> list[str]:
    return [r["id"] for r in room.state.snapshot()["queue"]]


def test_song_queue_order_votes_then_time() -> None:
    room = Room()
    room.do(FAN, SongRequest(SONG.id))
    room.now += 1
    room.do(FAN2, SongRequest(SONG.id))
    first, second = queue_ids(room)
    assert room.refused(FAN, SongRequest(SONG.id)) == "already_requested"
    room.do(TROLL, SongVote(second))
    assert queue_ids(room) == [second, first]
    assert room.refused(TROLL, SongVote(second)) == "already_voted"
    room.do(HOST, SongVote(first))
    assert queue_ids(room) == [first, second]  # tie on votes: earlier request first
    boost = {"request_id": second, "boost_id": "b1", "amount": 500, "currency": "USD", "from": "x"}
    assert room.state.apply("song.boost", boost)
    assert queue_ids(room) == [second, first]  # a paid boost outranks votes
    assert room.state.snapshot()["queue"][0]["boost_minor"] == 500


def test_song_play_skip_done() -> None:
    room = Room()
    room.do(FAN, SongRequest(SONG.id))
    room.do(FAN2, SongRequest(SONG.id))
    a, b = queue_ids(room)
    room.do(HOST, SongPlay(b))
    assert [(r["id"], r["status"]) for r in room.state.snapshot()["queue"]] == [
        (b, "playing"),
        (a, "queued"),
    ]
    room.do(HOST, SongPlay(a))
    assert queue_ids(room) == [a]
    room.do(OWNER, SongDone(a))
    assert queue_ids(room) == []
    room.do(FAN, SongRequest(SONG.id))  # the fan may ask again once the request is done
    (c,) = queue_ids(room)
    room.do(HOST, SongSkip(c))
    assert room.refused(HOST, SongSkip(c)) == "not_found"
    assert room.refused(FAN, SongRequest(999)) == "not_found"


def test_song_event_carries_queue_and_change() -> None:
    room = Room()
    decision = room.do(FAN, SongRequest(SONG.id))
    data = decision.events[0].data
    assert data["change"]["op"] == "request"
    assert data["queue"] == [
        {
            "id": "m1",
            "song": {"id": 11, "title": "Blue", "artist": "Olga"},
            "by": {"id": FAN, "name": "fay"},
            "votes": 0,
            "boost_minor": 0,
            "status": "queued",
            "ts": 1000.0,
        }
    ]


def test_pending_request_blocks_a_second_before_apply() -> None:
    room = Room()
    first = room.state.decide(actor(FAN), SongRequest(SONG.id), room.ctx(SongRequest(SONG.id)))
    with pytest.raises(Refused) as info:
        room.state.decide(actor(FAN), SongRequest(SONG.id), room.ctx(SongRequest(SONG.id)))
    assert info.value.code == "already_requested"
    # a replica that applies a duplicate change ignores it
    out = first.events[0]
    room.state.apply(out.type, out.data)
    room.state.apply(out.type, out.data)
    assert len(room.state.songs) == 1


def test_replicas_converge() -> None:
    room = Room()
    room.say(FAN, "a")
    room.do(FAN, SongRequest(SONG.id))
    room.do(HOST, RoomSettingsOp(blocked_terms=("x",)))
    room.do(HOST, ModBan("troll"))
    other = RoomState(ROOM)
    for type_, data in room.events:
        other.apply(type_, data)
    assert other.snapshot() == room.state.snapshot()
    assert other.moderation.banned == {TROLL}


def test_stream_and_presence_apply() -> None:
    state = RoomState(ROOM)
    state.apply("stream.state", {"live": True})
    state.apply("presence", {"viewers": 12})
    assert state.apply("something.new", {})
    assert not state.apply("chat.message", {"no": "id"})
    assert not state.apply("song.queue", {"change": {"op": "request", "request": {}}})
    snap = state.snapshot()
    assert snap["stream"] == {"live": True} and snap["viewers"] == 12


def test_restore_song_queue_from_its_last_event() -> None:
    room = Room()
    room.do(FAN, SongRequest(SONG.id))
    (rid,) = queue_ids(room)
    room.do(FAN2, SongVote(rid))
    other = RoomState(ROOM)
    assert other.restore("song.queue", room.events[-1][1])
    assert other.snapshot()["queue"] == room.state.snapshot()["queue"]
    assert other.snapshot()["queue"][0]["votes"] == 1
    with pytest.raises(Refused) as info:
        other.decide(actor(FAN), SongRequest(SONG.id), room.ctx(SongRequest(SONG.id)))
    assert info.value.code == "already_requested"
    assert not other.restore("song.queue", {"queue": [{"id": "broken"}]})


def test_timeouts_and_votes_are_effects_the_adapter_stores() -> None:
    room = Room()
    decision = room.do(HOST, ModTimeout("fay", 60))
    assert decision.effects == (SaveTimeout(FAN, HOST, room.now + 60),)
    room.do(FAN2, SongRequest(SONG.id))
    rid = room.state.songs.ordered()[0].id
    assert room.do(FAN, SongVote(rid)).effects == (SaveVote(rid, FAN),)
    assert room.do(HOST, SongSkip(rid)).effects == (ForgetVotes((rid,)),)


def test_a_restored_timeout_refuses_chat_until_it_ends() -> None:
    room = Room(timeouts={FAN: 1060.0})
    assert room.refused(FAN, ChatSend("hi")) == "timed_out"
    room.now = 1060.0
    room.say(FAN)


def test_voters_restored_beside_a_queue_known_by_counts() -> None:
    room = Room()
    room.do(FAN2, SongRequest(SONG.id))
    room.do(FAN, SongVote(room.state.songs.ordered()[0].id))
    wire = room.state.songs.wire()
    rid = wire[0]["id"]
    again = Room()
    again.state.restore("song.queue", {"queue": wire})
    again.state.songs.restore_voters({rid: {FAN}})
    assert again.refused(FAN, SongVote(rid)) == "already_voted"
    assert again.state.songs.wire()[0]["votes"] == 1
    again.do(HOST, SongVote(rid))
    assert again.state.songs.wire()[0]["votes"] == 2


def test_a_fan_cannot_vote_for_their_own_request() -> None:
    room = Room()
    room.do(FAN, SongRequest(SONG.id))
    rid = room.state.songs.ordered()[0].id
    assert room.refused(FAN, SongVote(rid)) == "own_request"
    assert room.state.songs.ordered()[0].votes == 0
    room.do(FAN2, SongVote(rid))
    assert room.state.songs.ordered()[0].votes == 1


def test_a_ban_removes_the_fans_queued_request() -> None:
    room = Room()
    room.do(TROLL, SongRequest(SONG.id))
    room.do(FAN, SongRequest(SONG.id))
    troll_rid = next(r.id for r in room.state.songs.ordered() if r.user_id == TROLL)
    room.do(FAN2, SongVote(troll_rid))
    decision = room.do(HOST, ModBan("troll"))
    assert [r.user_id for r in room.state.songs.ordered()] == [FAN]
    queue_event = next(out for out in decision.events if out.type == "song.queue")
    assert queue_event.data["change"] == {"op": "skip", "request_id": troll_rid}
    assert ForgetVotes((troll_rid,)) in decision.effects
    replica = Room()  # a replica that only sees the events ends with the same queue
    for type_, data in room.events:
        replica.state.apply(type_, data)
    assert [r.user_id for r in replica.state.songs.ordered()] == [FAN]


def test_a_ban_without_a_request_leaves_the_queue_alone() -> None:
    room = Room()
    room.do(FAN, SongRequest(SONG.id))
    decision = room.do(HOST, ModBan("troll"))
    assert all(out.type != "song.queue" for out in decision.events)
    assert len(room.state.songs.ordered()) == 1
