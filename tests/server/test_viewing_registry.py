"""The viewing registry across nodes: two registries on one real Redis see each other's
takeovers and revocations within the cache time; in process, at once."""

from __future__ import annotations

import redis.asyncio as aioredis

from server.viewing import CACHE_S, ViewingRegistry
from tests.conftest import REDIS_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_in_process_takeover_and_revocation_are_immediate() -> None:
    reg = ViewingRegistry()
    assert await reg.open("tkt_1", "vs_a") is None
    assert await reg.open("tkt_1", "vs_b") == "vs_a"
    assert await reg.current("tkt_1") == "vs_b"
    await reg.revoke("tkt_1")
    assert await reg.current("tkt_1") is None
    assert await reg.open("tkt_1", "vs_c") is None  # a revoked ticket's old session is nobody's


async def test_two_nodes_on_redis_agree_within_the_cache_time(redis_prefix: str) -> None:
    clients = [aioredis.from_url(REDIS_URL) for _ in range(2)]
    clock = Clock()
    a, b = (ViewingRegistry(c, redis_prefix, clock) for c in clients)
    try:
        await a.open("tkt_1", "vs_a")
        assert await b.current("tkt_1") == "vs_a"
        assert await b.open("tkt_1", "vs_b") == "vs_a"  # the second device, on the other node
        assert await b.current("tkt_1") == "vs_b"
        clock.now += CACHE_S
        assert await a.current("tkt_1") == "vs_b"
        await b.revoke("tkt_1")
        clock.now += CACHE_S
        assert await a.current("tkt_1") is None
    finally:
        for c in clients:
            await c.delete(f"{redis_prefix}:viewing:tkt_1")
            await c.aclose()
