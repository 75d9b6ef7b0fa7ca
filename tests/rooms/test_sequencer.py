"""The sequencer's rules as tables: (what arrives) -> (what the adapter is told to do)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.events import Event
from rooms.sequencer import (
    Action,
    Deliver,
    Fetch,
    Lost,
    Reset,
    Sequencer,
    recent_tail,
    sticky_in,
)


def ev(seq: int, epoch: str = "e", ts: float = 100.0) -> Event:
    return Event("x", seq, epoch, {"seq": seq}, ts)


def said(actions: list[Action]) -> list[tuple[Any, ...]]:
    """Actions as comparable tuples (events by (seq, epoch))."""
    out: list[tuple[Any, ...]] = []
    for a in actions:
        if isinstance(a, Deliver):
            out.append(("deliver", a.event.seq, a.event.epoch))
        elif isinstance(a, Fetch):
            out.append(("fetch", a.first, a.last))
        elif isinstance(a, Lost):
            out.append(("lost", a.first, a.last))
        else:
            assert isinstance(a, Reset)
            out.append(("reset", a.epoch))
    return out


def started(epoch: str | None = "e", seq: int = 0) -> Sequencer:
    s = Sequencer()
    s.start(epoch, seq)
    return s


MESSAGE_TABLE = [
    # (start seq, message seq, message epoch, expected actions)
    (0, 1, "e", [("deliver", 1, "e")]),
    (4, 5, "e", [("deliver", 5, "e")]),
    (4, 4, "e", []),  # duplicate
    (4, 2, "e", []),  # old
    (4, 7, "e", [("fetch", 5, 6)]),  # gap: held until filled
    (4, 1, "f", [("reset", "f"), ("deliver", 1, "f")]),  # a new epoch starts over
    (4, 3, "f", [("reset", "f"), ("fetch", 1, 2)]),
]


@pytest.mark.parametrize(("start", "seq", "epoch", "expected"), MESSAGE_TABLE)
def test_message(start: int, seq: int, epoch: str, expected: list[tuple[Any, ...]]) -> None:
    s = started("e", start)
    assert said(s.message(ev(seq, epoch))) == expected


def test_nothing_before_start() -> None:
    s = Sequencer()
    assert s.message(ev(1)) == [] and s.head("e", 5) == []
    s.start("e", 3)
    assert said(s.message(ev(4))) == [("deliver", 4, "e")]


def test_no_epoch_yet_then_first_event() -> None:
    s = started(None, 0)
    assert s.head(None, 0) == []
    assert said(s.message(ev(1, "new"))) == [("reset", "new"), ("deliver", 1, "new")]


FILL_TABLE = [
    # (message after last=4, what history returns, expected after the fetch)
    (7, [5, 6], [("deliver", 5, "e"), ("deliver", 6, "e"), ("deliver", 7, "e")]),
    (7, [6], [("lost", 5, 5), ("deliver", 6, "e"), ("deliver", 7, "e")]),
    (7, [], [("lost", 5, 6), ("deliver", 7, "e")]),
    (7, [4, 5, 5, 6, 9], [("deliver", 5, "e"), ("deliver", 6, "e"), ("deliver", 7, "e")]),
]


@pytest.mark.parametrize(("seq", "history", "expected"), FILL_TABLE)
def test_gap_filled_from_history(seq: int, history: list[int], expected: list[Any]) -> None:
    s = started("e", 4)
    assert said(s.message(ev(seq))) == [("fetch", 5, seq - 1)]
    assert said(s.filled([ev(n) for n in history])) == expected
    assert s.last == seq
    assert s.message(ev(seq)) == []  # the held event is not delivered twice


def test_history_of_another_epoch_is_not_delivered() -> None:
    s = started("e", 1)
    s.message(ev(3))
    assert said(s.filled([ev(2, "old")])) == [("lost", 2, 2), ("deliver", 3, "e")]


HEAD_TABLE = [
    # (last, head epoch, head seq, expected)
    (4, "e", 4, []),
    (4, "e", 6, [("fetch", 5, 6)]),
    (4, "f", 2, [("reset", "f"), ("fetch", 1, 2)]),
    (4, None, 0, []),  # Redis lost the room; the next publish makes an epoch
]


@pytest.mark.parametrize(("last", "epoch", "seq", "expected"), HEAD_TABLE)
def test_head(last: int, epoch: str | None, seq: int, expected: list[Any]) -> None:
    assert said(started("e", last).head(epoch, seq)) == expected


def test_lost_events_are_skipped_once() -> None:
    s = started("e", 0)
    assert said(s.head("e", 3)) == [("fetch", 1, 3)]
    assert said(s.filled([])) == [("lost", 1, 3)]
    assert s.head("e", 3) == []  # not asked for again
    assert said(s.message(ev(4))) == [("deliver", 4, "e")]


def test_a_failed_fetch_is_asked_again() -> None:
    s = started("e", 1)
    assert said(s.message(ev(4))) == [("fetch", 2, 3)]
    # the read failed: no filled(); the reader reconnects and looks at the head
    assert said(s.head("e", 5)) == [("fetch", 2, 5)]
    assert said(s.filled([ev(n) for n in (2, 3, 4, 5)])) == [
        ("deliver", n, "e") for n in (2, 3, 4, 5)
    ]


def test_filled_without_a_fetch_does_nothing() -> None:
    assert started().filled([ev(1)]) == []


@given(
    st.lists(
        st.tuples(st.sampled_from(["msg", "head"]), st.integers(1, 12), st.booleans()),
        max_size=40,
    )
)
def test_delivery_is_in_order_and_each_once(steps: list[tuple[str, int, bool]]) -> None:
    """Whatever pub/sub brings (late, twice, out of order) and whatever history still holds,
    one epoch's deliveries rise by one except where ``Lost`` says what was skipped."""
    s = started("e", 0)
    published = 0
    history: dict[int, Event] = {}
    delivered: list[int] = []
    for kind, n, kept in steps:
        while published < n:
            published += 1
            if kept:
                history[published] = ev(published)
        actions = s.message(ev(n)) if kind == "msg" else s.head("e", published)
        while actions:
            action, actions = actions[0], actions[1:]
            if isinstance(action, Fetch):
                held = [history[i] for i in range(action.first, action.last + 1) if i in history]
                actions = s.filled(held) + actions
            elif isinstance(action, Deliver):
                delivered.append(action.event.seq)
            elif isinstance(action, Lost):
                delivered.extend(range(action.first, action.last + 1))
    assert delivered == list(range(1, len(delivered) + 1))


def test_recent_tail_keeps_the_contiguous_recent_run() -> None:
    events = [ev(1, ts=10), ev(2, ts=50), ev(3, ts=60), ev(5, ts=70), ev(6, ts=80), ev(7, ts=90)]
    assert [e.seq for e in recent_tail(events, "e", 7, cutoff=40)] == [5, 6, 7]
    assert [e.seq for e in recent_tail(events, "e", 6, cutoff=40)] == [5, 6]
    assert [e.seq for e in recent_tail(events[:3], "e", 3, cutoff=40)] == [2, 3]
    assert recent_tail(events, "other", 7, cutoff=0) == []
    assert recent_tail(events, "e", 7, cutoff=100) == []


def test_sticky_in_keeps_the_epoch_in_seq_order() -> None:
    got = sticky_in([ev(5), ev(2), ev(9, "old")], "e")
    assert [e.seq for e in got] == [2, 5]
