"""The bus contract, run against MemoryBus and against RedisBus on the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.bus import BusSettings, EventBus, MemoryBus
from rooms.events import Event
from rooms.history import History
from rooms.redisbus import RedisBus

from .conftest import REDIS_URL, eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def bus_and_clock(request: Any, redis_prefix: str) -> AsyncIterator[tuple[EventBus, Clock]]:
    clock = Clock()
    settings = BusSettings(history_events=50, history_s=120)
    bus: EventBus
    if request.param == "memory":
        bus = MemoryBus(settings, clock)
    else:
        bus = RedisBus(REDIS_URL, redis_prefix, settings, clock)
    await bus.start()
    yield bus, clock
    await bus.close()


async def test_seq_assigned_in_order_and_delivered(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    got: list[Event] = []
    await bus.subscribe("r1", got.append)
    events = [await bus.publish("r1", "chat.message", {"n": i}) for i in range(5)]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert len({e.epoch for e in events}) == 1
    await eventually(lambda: len(got) == 5)
    assert [(e.seq, e.data) for e in got] == [(i + 1, {"n": i}) for i in range(5)]
    other = await bus.publish("r2", "x", {})
    assert other.seq == 1  # seqs are per room


async def test_concurrent_publishes_get_distinct_seqs(
    bus_and_clock: tuple[EventBus, Clock],
) -> None:
    bus, _ = bus_and_clock
    events = await asyncio.gather(*(bus.publish("r", "x", {"i": i}) for i in range(40)))
    assert sorted(e.seq for e in events) == list(range(1, 41))


async def test_idempotency_key(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    got: list[Event] = []
    await bus.subscribe("r", got.append)
    first = await bus.publish("r", "tip", {"amount": 5}, idempotency_key="pay-1")
    again = await bus.publish("r", "tip", {"amount": 5}, idempotency_key="pay-1")
    other = await bus.publish("r", "tip", {"amount": 7}, idempotency_key="pay-2")
    assert (first.seq, again.seq, other.seq) == (1, 1, 2)
    assert again.epoch == first.epoch
    # Delivery is in publish order: once an event published after the retry has arrived, a
    # duplicate of pay-1 would have arrived before it.
    sentinel = await bus.publish("r", "sentinel", {})
    await eventually(lambda: sentinel.seq in [e.seq for e in got])
    assert [(e.seq, e.type, e.data) for e in got] == [
        (1, "tip", {"amount": 5}),
        (2, "tip", {"amount": 7}),
        (sentinel.seq, "sentinel", {}),
    ]


async def test_recent_holds_the_tail(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    events = [await bus.publish("r", "x", {"i": i}) for i in range(10)]
    recent = await bus.recent("r")
    assert (recent.epoch, recent.seq) == (events[0].epoch, 10)
    assert [(e.seq, e.data) for e in recent.events] == [(i + 1, {"i": i}) for i in range(10)]


async def test_history_bounded_by_count_and_age(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, clock = bus_and_clock
    for i in range(300):
        await bus.publish("r", "x", {"i": i})
    seqs = [e.seq for e in (await bus.recent("r")).events]
    # pushed out past the cap of 50 (approximate in Redis), and what is left ends at 300
    assert 50 <= len(seqs) < 300 and seqs == list(range(301 - len(seqs), 301))
    clock.now += 121
    recent = await bus.recent("r")
    assert recent.events == [] and recent.seq == 300  # older than two minutes


async def test_recent_gives_epoch_seq_and_events(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    empty = await bus.recent("fresh")
    assert empty.seq == 0 and empty.events == [] and empty.epoch
    first = await bus.publish("fresh", "x", {})
    assert first.epoch == empty.epoch  # the epoch is stable once made
    await bus.publish("fresh", "y", {})
    recent = await bus.recent("fresh")
    assert (recent.epoch, recent.seq, [e.type for e in recent.events]) == (
        first.epoch,
        2,
        ["x", "y"],
    )


async def test_unsubscribe(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    got: list[Event] = []
    stays: list[Event] = []
    await bus.subscribe("r", got.append)
    await bus.subscribe("r", stays.append)
    await bus.publish("r", "x", {})
    await eventually(lambda: len(got) == 1)
    await bus.unsubscribe("r", got.append)
    after = await bus.publish("r", "x", {})
    # Both callbacks of a room are called for each event in turn: once the subscriber that
    # stayed has the later event, the one that left would have had it too.
    await eventually(lambda: after.seq in [e.seq for e in stays])
    assert [e.seq for e in got] == [1]
    assert [e.seq for e in stays] == [1, after.seq]


async def test_presence_count(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, _ = bus_and_clock
    assert await bus.set_presence("r", 3) == 3
    assert await bus.set_presence("r", 1) == 1


def test_history_unit() -> None:
    h = History(max_events=3, max_age_s=10)
    h.reset("e")
    for i in range(1, 6):
        h.append(Event("x", i, "e", {}, float(i)))
    assert [e.seq for e in h.events(5.0)] == [3, 4, 5]
    assert h.since(1, "e", 5.0) is None
    assert [e.seq for e in h.since(2, "e", 5.0) or []] == [3, 4, 5]
    h.append(Event("x", 1, "f", {}, 6.0))  # a new epoch starts over
    assert (h.epoch, h.seq, len(h)) == ("f", 1, 1)
    assert h.since(0, "f", 6.0) is not None and h.since(5, "e", 6.0) is None


async def test_sticky_state_outlives_history(bus_and_clock: tuple[EventBus, Clock]) -> None:
    bus, clock = bus_and_clock
    await bus.publish("r", "stream.state", {"live": False})
    await bus.publish("r", "stream.state", {"live": True})
    await bus.publish("r", "song.queue", {"queue": [], "change": {}})
    await bus.publish("r", "chat.message", {"id": "m"})
    clock.now += 500
    recent = await bus.recent("r")
    assert recent.events == [] and recent.seq == 4
    assert [(e.type, e.seq, e.data) for e in recent.sticky] == [
        ("stream.state", 2, {"live": True}),
        ("song.queue", 3, {"queue": [], "change": {}}),
    ]


@given(
    st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["e1", "e2"])), max_size=40),
    st.integers(0, 45),
)
def test_history_since_is_exact_or_none(steps: list[tuple[int, str]], since: int) -> None:
    """Whatever arrives (gaps, duplicates, epoch changes), ``since`` is exact or None."""
    h = History(max_events=8, max_age_s=1e9)
    h.reset("e1")
    seq, epoch = 0, "e1"
    for jump, ep in steps:
        if ep != epoch:
            seq, epoch = 0, ep
        seq += jump
        h.append(Event("x", seq, ep, {}, 0.0))
    got = h.since(since, h.epoch, 0.0)
    if got is not None:
        assert [e.seq for e in got] == list(range(since + 1, h.seq + 1))
        assert all(e.epoch == h.epoch for e in got)
