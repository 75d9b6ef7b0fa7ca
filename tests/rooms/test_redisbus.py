"""RedisBus across nodes, with Redis restarts: order, gap filling, epochs, resubscribe."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from rooms.bus import BusSettings
from rooms.errors import BusUnavailable
from rooms.events import Event
from rooms.redisbus import RedisBus

from .conftest import REDIS_URL, ThrowawayRedis, eventually


async def test_two_nodes_see_one_order(redis_prefix: str) -> None:
    a, b = RedisBus(REDIS_URL, redis_prefix), RedisBus(REDIS_URL, redis_prefix)
    seen_a: list[Event] = []
    seen_b: list[Event] = []
    try:
        await a.subscribe("room", seen_a.append)
        await b.subscribe("room", seen_b.append)

        async def chatter(bus: RedisBus, who: str) -> None:
            for i in range(30):
                await bus.publish("room", "chat.message", {"who": who, "i": i})

        await asyncio.gather(chatter(a, "a"), chatter(b, "b"))
        await eventually(lambda: len(seen_a) == 60 and len(seen_b) == 60)
        order_a = [(e.seq, e.data["who"], e.data["i"]) for e in seen_a]
        order_b = [(e.seq, e.data["who"], e.data["i"]) for e in seen_b]
        assert order_a == order_b
        assert [s for s, _, _ in order_a] == list(range(1, 61))
    finally:
        await a.close()
        await b.close()


async def test_gap_on_pubsub_is_filled_from_the_stream(redis_prefix: str) -> None:
    bus = RedisBus(REDIS_URL, redis_prefix)
    got: list[Event] = []
    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        await bus.subscribe("r", got.append)
        await bus.publish("r", "x", {"i": 1})
        # Simulate lost pub/sub messages: append seqs 2 and 3 to the stream without PUBLISH.
        epoch = (await raw.get(f"{redis_prefix}:room:{{r}}:epoch")).decode()
        for seq in (2, 3):
            await raw.incr(f"{redis_prefix}:room:{{r}}:seq")
            fields = {"type": "x", "data": json.dumps({"i": seq}), "ts": "1e12", "epoch": epoch}
            await raw.xadd(f"{redis_prefix}:room:{{r}}:stream", fields, id=f"{seq}-0")
        await bus.publish("r", "x", {"i": 4})
        await eventually(lambda: len(got) == 4)
        assert [e.seq for e in got] == [1, 2, 3, 4]
        assert [e.data["i"] for e in got] == [1, 2, 3, 4]
    finally:
        await raw.aclose()
        await bus.close()


async def test_lost_epoch_key_starts_a_new_epoch(redis_prefix: str) -> None:
    bus = RedisBus(REDIS_URL, redis_prefix)
    raw = aioredis.Redis.from_url(REDIS_URL)
    got: list[Event] = []
    try:
        await bus.subscribe("r", got.append)
        first = await bus.publish("r", "x", {})
        await bus.publish("r", "x", {})
        await raw.delete(f"{redis_prefix}:room:{{r}}:epoch")
        fresh = await bus.publish("r", "x", {})
        assert fresh.epoch != first.epoch and fresh.seq == 1
        recent = await bus.recent("r")
        assert recent.epoch == fresh.epoch and [e.seq for e in recent.events] == [1]
        await eventually(lambda: len(got) == 3)
        assert [(e.seq, e.epoch) for e in got][-1] == (1, fresh.epoch)
    finally:
        await raw.aclose()
        await bus.close()


async def test_redis_restart_resubscribes_without_crashing(throwaway_redis: ThrowawayRedis) -> None:
    settings = BusSettings(history_events=100)
    a = RedisBus(throwaway_redis.url, "nal", settings)
    b = RedisBus(throwaway_redis.url, "nal", settings)
    got_b: list[Event] = []
    try:
        await b.subscribe("room", got_b.append)
        before = [await a.publish("room", "chat.message", {"i": i}) for i in range(3)]
        await eventually(lambda: len(got_b) == 3)

        throwaway_redis.stop()
        try:
            await a.publish("room", "chat.message", {"i": "lost"})
            raise AssertionError("publish should fail while Redis is down")
        except BusUnavailable:
            pass
        await asyncio.sleep(0.3)
        throwaway_redis.start()

        after = await a.publish("room", "chat.message", {"i": "after"})
        assert after.epoch != before[0].epoch and after.seq == 1  # history was lost: new epoch
        await eventually(lambda: got_b[-1].data == {"i": "after"}, timeout=20)
        assert b.reconnects >= 1
        more = await a.publish("room", "chat.message", {"i": "more"})
        await eventually(lambda: got_b[-1].seq == more.seq, timeout=10)
        assert [e.data["i"] for e in got_b] == [0, 1, 2, "after", "more"]
    finally:
        await a.close()
        await b.close()


async def test_presence_sums_nodes_and_expires(redis_prefix: str) -> None:
    a = RedisBus(REDIS_URL, redis_prefix, BusSettings(presence_ttl_s=0.2))
    b = RedisBus(REDIS_URL, redis_prefix, BusSettings(presence_ttl_s=30))
    try:
        assert await a.set_presence("r", 3) == 3
        assert await b.set_presence("r", 4) == 7
        assert await a.set_presence("r", 1) == 5
        await asyncio.sleep(0.3)  # node a stopped refreshing: its count expires
        assert await b.set_presence("r", 4) == 4
    finally:
        await a.close()
        await b.close()


async def test_a_publish_racing_a_subscribe_replays_no_history(redis_prefix: str) -> None:
    """The new subscriber gets what was published after it subscribed, never the room's
    older events (which replayed a stream.end and ended the next stream, test_stream_end)."""
    publisher = RedisBus(REDIS_URL, redis_prefix, BusSettings())
    bus = RedisBus(REDIS_URL, redis_prefix, BusSettings())
    await bus.start()
    try:
        for i in range(6):
            room = f"race{i}"
            old = [await publisher.publish(room, "old", {"n": n}) for n in range(3)]
            got: list[Event] = []
            await asyncio.gather(bus.subscribe(room, got.append), publisher.publish(room, "new", {}))
            sentinel = await publisher.publish(room, "sentinel", {})
            await eventually(lambda s=sentinel.seq, g=got: s in [e.seq for e in g])
            seqs = [e.seq for e in got]
            assert all(seq > old[-1].seq for seq in seqs), [(e.seq, e.type) for e in got]
            assert seqs == sorted(set(seqs)) and seqs[-1] == sentinel.seq
    finally:
        await bus.close()
        await publisher.close()
