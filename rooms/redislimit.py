"""Rate-limit buckets in Redis, shared by every node: one atomic script per take.

Key (``P`` the prefix, ``{room}`` the room's hash tag, as in redisbus.py)::

    P:room:{room}:rate:USER:CAPACITY/PER_S   hash tokens/updated, expires when it would be full

The script does the arithmetic of ``rooms.ratelimit.take_one`` on the same IEEE doubles
(values travel as ``%.17g`` strings, which read back exactly), so a bucket in Redis
refuses exactly when an in-process one would. The clock is Redis's own (``TIME``), so
nodes whose clocks differ still share one refill; tests may pass ``now``.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from rooms.errors import BusUnavailable
from rooms.ratelimit import Rate

# KEYS: bucket   ARGV: capacity, per_s, now ('' for Redis TIME), ttl ms
_TAKE = """
local capacity = tonumber(ARGV[1])
local refill_per_s = capacity / tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[3])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * refill_per_s)
updated = math.max(updated, now)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / refill_per_s
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'updated', string.format('%.17g', updated))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return string.format('%.17g', wait)
"""


class RedisRateLimiter:
    """``rooms.ratelimit.RateLimiter`` over a ``redis.asyncio.Redis`` client the caller
    owns (and closes)."""

    def __init__(self, redis: Any, prefix: str = "nal") -> None:
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)

    def key(self, room: str, user_id: int, rate: Rate) -> str:
        return f"{self.prefix}:room:{{{room}}}:rate:{user_id}:{rate.capacity}/{rate.per_s!r}"

    async def take(self, room: str, user_id: int, rate: Rate, now: float | None = None) -> float:
        ttl_ms = int(rate.per_s * 1000) + 1000  # an untouched bucket is full again by then
        args = [rate.capacity, repr(float(rate.per_s)), "" if now is None else repr(now), ttl_ms]
        try:
            wait = await self._take(keys=[self.key(room, user_id, rate)], args=args)
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"rate limits unavailable: {exc}") from exc
        return float(wait)
