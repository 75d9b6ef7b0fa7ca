"""Tips and boosts in the room replica: recent tips, top supporters, refunds, hiding, boosts.

Every case is a table of events (as the bus delivers them, in seq order) and what the
snapshot shows after them; a second replica fed the same events must show the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from rooms import tips as tips_module
from rooms.core import Actor, Context, RoomState
from rooms.errors import Refused
from rooms.ports import Identity, RoomInfo
from rooms.protocol import SongRequest, SongVote, TipHide
from rooms.songs import SongQueue

from .test_core import FAN2, SONG, Room

ROOM = RoomInfo(id=7, slug="olga", title="Olga live", owner_id=1, host_ids=frozenset({2}))
Ev = tuple[str, dict[str, Any]]


def tip(tid: str, sender: str, amount: int, message: str = "", currency: str = "USD") -> Ev:
    data = {"id": tid, "from": sender, "amount": amount, "currency": currency, "message": message}
    return ("tip", data)


def refund(tid: str) -> Ev:
    return ("tip.refunded", {"id": tid})


def hidden(tid: str) -> Ev:
    return ("tip.hidden", {"id": tid})


def replay(events: list[Ev]) -> RoomState:
    state = RoomState(ROOM)
    for type_, data in events:
        state.apply(type_, data)
    return state


def supporters(state: RoomState) -> list[tuple[str, int]]:
    return [(s["name"], s["amount"]) for s in state.snapshot()["supporters"]]


def shown(state: RoomState) -> list[tuple[str, str, bool, bool]]:
    return [(t["id"], t["message"], t["hidden"], t["refunded"]) for t in state.snapshot()["tips"]]


CASES: list[tuple[str, list[Ev], list[tuple[str, int]], list[tuple[str, str, bool, bool]]]] = [
    ("one tip", [tip("t1", "fay", 500, "great")], [("fay", 500)], [("t1", "great", False, False)]),
    (
        "totals add up, biggest first, ties by name",
        [tip("t1", "fay", 500), tip("t2", "finn", 300), tip("t3", "finn", 200), tip("t4", "al", 500)],
        [("al", 500), ("fay", 500), ("finn", 500)],
        [("t1", "", False, False), ("t2", "", False, False), ("t3", "", False, False),
         ("t4", "", False, False)],
    ),
    (
        "a redelivered tip counts once",
        [tip("t1", "fay", 500), tip("t1", "fay", 500)],
        [("fay", 500)],
        [("t1", "", False, False)],
    ),
    (
        "anonymous tips show but count for nobody",
        [tip("t1", "Anonymous", 900, "shh"), tip("t2", "fay", 100)],
        [("fay", 100)],
        [("t1", "shh", False, False), ("t2", "", False, False)],
    ),
    (
        "a refund marks the tip and takes its amount back",
        [tip("t1", "fay", 500), tip("t2", "fay", 200), tip("t3", "finn", 100), refund("t1")],
        [("fay", 200), ("finn", 100)],
        [("t1", "", False, True), ("t2", "", False, False), ("t3", "", False, False)],
    ),
    (
        "a refund of everything a fan gave drops them; a second refund changes nothing",
        [tip("t1", "fay", 500), refund("t1"), refund("t1")],
        [],
        [("t1", "", False, True)],
    ),
    (
        "a refund that arrives before its tip",
        [refund("t1"), tip("t1", "fay", 500), tip("t2", "finn", 100)],
        [("finn", 100)],
        [("t1", "", False, True), ("t2", "", False, False)],
    ),
    (
        "hiding removes the message for everyone and keeps the money",
        [tip("t1", "fay", 500, "rude words"), hidden("t1"), hidden("nope")],
        [("fay", 500)],
        [("t1", "", True, False)],
    ),
    (
        "currencies are totalled apart",
        [tip("t1", "fay", 500), tip("t2", "fay", 700, currency="EUR")],
        [("fay", 700), ("fay", 500)],
        [("t1", "", False, False), ("t2", "", False, False)],
    ),
    (
        "malformed tips change nothing",
        [("tip", {"id": "x"}), ("tip", {"id": "y", "from": "a", "amount": -5, "currency": "USD"}),
         ("tip", {"id": "z", "from": "a", "amount": True, "currency": "USD"}),
         ("tip.refunded", {}), ("tip.hidden", {})],
        [],
        [],
    ),
]


@pytest.mark.parametrize(("events", "top", "recent"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tip_board(events: list[Ev], top: list[tuple[str, int]], recent: list[Any]) -> None:
    state = replay(events)
    assert supporters(state) == top
    assert shown(state) == recent
    assert replay(events).snapshot() == state.snapshot()  # replicas converge


def test_snapshot_wire_shape() -> None:
    state = replay([("tip", {**tip("t1", "fay", 500, "great")[1], "ts": 12.5})])
    snap = state.snapshot()
    assert snap["tips"] == [{"id": "t1", "from": "fay", "amount": 500, "currency": "USD",
                             "message": "great", "ts": 12.5, "hidden": False, "refunded": False}]
    assert snap["supporters"] == [{"name": "fay", "amount": 500, "currency": "USD"}]


def test_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tips_module, "MAX_TIPS", 5)
    monkeypatch.setattr(tips_module, "MAX_SUPPORTERS", 3)
    events = [tip(f"t{i}", f"fan{i}", 100 + i) for i in range(8)]
    state = replay(events)
    assert [t["id"] for t in state.snapshot()["tips"]] == ["t3", "t4", "t5", "t6", "t7"]
    assert supporters(state) == [("fan7", 107), ("fan6", 106), ("fan5", 105)]


def test_shown_lists_are_bounded() -> None:
    many = replay([tip(f"u{i}", f"f{i}", 1) for i in range(40)])
    assert len(many.snapshot()["tips"]) == tips_module.RECENT_TIPS
    assert len(many.snapshot()["supporters"]) == tips_module.TOP_SUPPORTERS


def test_long_message_is_cut() -> None:
    state = replay([tip("t1", "fay", 1, "x" * 1000)])
    assert len(state.snapshot()["tips"][0]["message"]) == tips_module.MAX_MESSAGE


# --- tip.hide -------------------------------------------------------------------------


def decide_hide(uid: int | None, name: str, tip_id: str, state: RoomState) -> list[Ev]:
    identity = None if uid is None else Identity(uid, name)
    decision = state.decide(Actor.of(ROOM, identity), TipHide(tip_id), Context(0.0, lambda: "x"))
    return [(out.type, out.data) for out in decision.events]


@pytest.mark.parametrize(
    ("uid", "name", "outcome"),
    [
        (1, "olga", [("tip.hidden", {"id": "t1"})]),
        (2, "hank", [("tip.hidden", {"id": "t1"})]),
        (3, "fay", "forbidden"),
        (None, "guest", "forbidden"),
    ],
)
def test_tip_hide_is_for_staff(uid: int | None, name: str, outcome: Any) -> None:
    state = replay([tip("t1", "finn", 500, "hello")])
    if isinstance(outcome, str):
        with pytest.raises(Refused) as info:
            decide_hide(uid, name, "t1", state)
        assert info.value.code == outcome
        assert shown(state) == [("t1", "hello", False, False)]
    else:
        assert decide_hide(uid, name, "t1", state) == outcome


def test_tip_hide_unknown_tip() -> None:
    with pytest.raises(Refused) as info:
        decide_hide(1, "olga", "nope", RoomState(ROOM))
    assert info.value.code == "not_found"


# --- song.boost -----------------------------------------------------------------------


def request(rid: str, uid: int, ts: float) -> Ev:
    req = {"id": rid, "song_id": 11, "title": "Blue", "artist": "Olga", "user_id": uid,
           "user_name": f"u{uid}", "ts": ts, "boost_minor": 0}
    return ("song.queue", {"change": {"op": "request", "request": req}})


def vote(rid: str, uid: int) -> Ev:
    return ("song.queue", {"change": {"op": "vote", "request_id": rid, "user_id": uid}})


def boost(rid: str, bid: str, amount: int) -> Ev:
    data = {"request_id": rid, "boost_id": bid, "amount": amount, "currency": "USD", "from": "fay"}
    return ("song.boost", data)


QUEUE_CASES: list[tuple[str, list[Ev], list[tuple[str, int, int]]]] = [
    ("time order", [request("a", 1, 1.0), request("b", 2, 2.0)], [("a", 0, 0), ("b", 0, 0)]),
    ("votes beat time", [request("a", 1, 1.0), request("b", 2, 2.0), vote("b", 9)],
     [("b", 0, 1), ("a", 0, 0)]),
    ("boosts beat votes", [request("a", 1, 1.0), request("b", 2, 2.0), vote("a", 9), boost("b", "x", 100)],
     [("b", 100, 0), ("a", 0, 1)]),
    ("boosts add up, bigger total first",
     [request("a", 1, 1.0), request("b", 2, 2.0), boost("b", "x", 100), boost("a", "y", 60),
      boost("a", "z", 60)],
     [("a", 120, 0), ("b", 100, 0)]),
    ("a redelivered boost counts once", [request("a", 1, 1.0), boost("a", "x", 100), boost("a", "x", 100)],
     [("a", 100, 0)]),
    ("a boost for a request that is gone, or malformed, changes nothing",
     [request("a", 1, 1.0), boost("gone", "x", 100), boost("a", "y", -1),
      ("song.boost", {"request_id": "a"})],
     [("a", 0, 0)]),
]


@pytest.mark.parametrize("events,order", [c[1:] for c in QUEUE_CASES], ids=[c[0] for c in QUEUE_CASES])
def test_boosted_queue_order(events: list[Ev], order: list[tuple[str, int, int]]) -> None:
    state = replay(events)
    queue = state.snapshot()["queue"]
    assert [(r["id"], r["boost_minor"], r["votes"]) for r in queue] == order
    assert SongQueue.from_wire(queue).wire() == queue  # the boost total travels in song.queue


def test_next_song_queue_event_carries_the_boost_total() -> None:
    room = Room()
    room.do(FAN2, SongRequest(SONG.id))
    rid = room.state.songs.ordered()[0].id
    room.state.apply(*boost(rid, "b1", 250))
    decision = room.do(1, SongVote(rid))
    assert decision.events[0].data["queue"][0]["boost_minor"] == 250
