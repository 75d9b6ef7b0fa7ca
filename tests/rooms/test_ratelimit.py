"""Rate limiters: the pure bucket rule, the in-process limiter and the Redis script, which
must refuse exactly when the pure rule does (same arithmetic, same doubles)."""

from __future__ import annotations

import random

import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from rooms.ratelimit import MemoryRateLimiter, Rate, refill, take_one
from rooms.redislimit import RedisRateLimiter

from .conftest import REDIS_URL

RATES = [Rate(20, 30.0), Rate(3, 7.0), Rate(1, 0.25), Rate(100, 30.0)]


@given(
    rate=st.sampled_from(RATES),
    steps=st.lists(st.floats(min_value=-5.0, max_value=20.0, allow_nan=False), max_size=60),
)
def test_take_one_never_overdraws_and_waits_are_exact(rate: Rate, steps: list[float]) -> None:
    tokens, updated, now = float(rate.capacity), 0.0, 0.0
    for step in steps:
        now += step  # the clock may go back: that adds nothing
        before, _ = refill(tokens, updated, rate, now)
        tokens, updated, wait = take_one(tokens, updated, rate, now)
        assert 0.0 <= tokens <= rate.capacity
        if wait == 0.0:
            assert tokens == before - 1.0
        else:
            assert before < 1.0 and tokens == before
            later = updated + wait + 1e-9  # the wait is a float: allow its rounding
            assert take_one(tokens, updated, rate, later)[2] == 0.0


def test_memory_limiter_keeps_one_bucket_per_room_and_user() -> None:
    limiter = MemoryRateLimiter()
    rate = Rate(2, 10.0)
    assert [limiter.take_now("r", 1, rate, 0.0) for _ in range(3)] == [0.0, 0.0, 5.0]
    assert limiter.take_now("r", 2, rate, 0.0) == 0.0
    assert limiter.take_now("other", 1, rate, 0.0) == 0.0


async def test_redis_script_refuses_exactly_when_the_pure_rule_does(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, redis_prefix)
    shuffled = random.Random(18)
    try:
        for run in range(40):
            rate = shuffled.choice(RATES)
            memory = MemoryRateLimiter()
            now = 1_700_000_000.0 + run
            for _ in range(50):
                now += shuffled.choice([0.0, 0.0, 0.01, shuffled.uniform(0, 3), -1.0])
                expected = memory.take_now("room", run, rate, now)
                got = await limiter.take("room", run, rate, now=now)
                assert got == expected, (run, rate, now)
    finally:
        await client.aclose()


async def test_redis_buckets_are_shared_and_expire_when_full(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    node_a, node_b = RedisRateLimiter(client, redis_prefix), RedisRateLimiter(client, redis_prefix)
    rate = Rate(2, 60.0)
    try:
        assert await node_a.take("room", 1, rate) == 0.0
        assert await node_b.take("room", 1, rate) == 0.0
        assert await node_a.take("room", 1, rate) > 0.0  # the second node's take counted
        assert await node_b.take("room", 2, rate) == 0.0
        ttl = await client.pttl(node_a.key("room", 1, rate))
        assert 0 < ttl <= 61_000
    finally:
        await client.aclose()
