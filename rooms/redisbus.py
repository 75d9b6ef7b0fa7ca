"""The event bus over Redis: many processes, one order per room.

Keys (``P`` is the prefix, ``{room}`` a hash tag so a room's keys share a cluster slot)::

    P:room:{room}:epoch       the room's epoch; set once, new when Redis lost the room's keys
    P:room:{room}:seq         INCR counter
    P:room:{room}:stream      Stream of events, entry id "SEQ-0", fields type/data/ts/epoch,
                              capped with MAXLEN ~ history_events
    P:room:{room}:idem:KEY    "SEQ|EPOCH" of a publish with idempotency key KEY (with a TTL)
    P:room:{room}:presence    set of node ids counting viewers in the room
    P:room:{room}:presence:N  node N's viewer count (with a TTL, refreshed while alive)
    channel P:room:{room}     pub/sub, message "SEQ|EPOCH|TS|TYPE|DATA_JSON"

Publishing is one Lua script (atomic in Redis): check the idempotency key, make sure the
room has an epoch, INCR seq, XADD, PUBLISH. Delivery: one pub/sub connection per bus; the
order rules (gaps filled from the stream, duplicates dropped, a new epoch starts the room
over, what history lost skipped once) are the pure ``Sequencer`` (sequencer.py): this
module only translates its answers into XRANGE reads and callbacks. After a connection
error the reader backs off (0.1 s doubling to 5 s), opens a new pub/sub connection,
resubscribes and catches every room up from the stream; it also checks every room's seq
when idle, so an event whose pub/sub message was lost is still delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rooms.bus import STICKY_TYPES, BusSettings, EventCallback, Recent, new_epoch
from rooms.errors import BusUnavailable
from rooms.events import Event, dumps_json
from rooms.sequencer import Action, Deliver, Fetch, Lost, Sequencer, recent_tail, sticky_in

log = logging.getLogger(__name__)
T = TypeVar("T")

_ENSURE_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
return epoch
"""

# KEYS: epoch, seq, stream, state, idem
# ARGV: channel, type, data, ts, new epoch, maxlen, ttl, has_idem, sticky
_PUBLISH = (
    "local function ensure()\n"
    + _ENSURE_EPOCH.replace("ARGV[1]", "ARGV[5]")
    + "end\n"
    + """
if ARGV[8] == '1' then
  local seen = redis.call('GET', KEYS[5])
  if seen then return {0, seen} end
end
local epoch = ensure()
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], seq .. '-0',
           'type', ARGV[2], 'data', ARGV[3], 'ts', ARGV[4], 'epoch', epoch)
local message = seq .. '|' .. epoch .. '|' .. ARGV[4] .. '|' .. ARGV[2] .. '|' .. ARGV[3]
redis.call('PUBLISH', ARGV[1], message)
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[4], ARGV[2], message)
end
if ARGV[8] == '1' then
  redis.call('SET', KEYS[5], seq .. '|' .. epoch, 'PX', ARGV[7])
end
return {1, seq .. '|' .. epoch}
"""
)

# KEYS: nodes set   ARGV: node key prefix, node id, count, ttl ms
_PRESENCE = """
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local total = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. node)
  if v then total = total + tonumber(v) else redis.call('SREM', KEYS[1], node) end
end
return total
"""

CATCH_UP_IDLE_S = 1.0
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0


@dataclass
class _Sub:
    callbacks: list[EventCallback] = field(default_factory=list)
    order: Sequencer = field(default_factory=Sequencer)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_event(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    f = {_s(k): _s(v) for k, v in fields.items()}
    seq = int(_s(entry_id).split("-", 1)[0])
    return Event(f["type"], seq, f["epoch"], json.loads(f["data"]), float(f["ts"]))


def _message_event(message: bytes | str) -> Event:
    seq, epoch, ts, type_, data = _s(message).split("|", 4)
    return Event(type_, int(seq), epoch, json.loads(data), float(ts))


class RedisBus:
    def __init__(
        self,
        url: str,
        prefix: str = "nal",
        settings: BusSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or BusSettings()
        self.prefix = prefix
        self.node_id = secrets.token_hex(6)
        self._clock = clock
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=None
        )
        self._publish = self._redis.register_script(_PUBLISH)
        self._ensure = self._redis.register_script(_ENSURE_EPOCH)
        self._presence = self._redis.register_script(_PRESENCE)
        self._subs: dict[str, _Sub] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnects = 0

    # --- keys ----------------------------------------------------------------------------

    def _key(self, room: str, name: str = "") -> str:
        base = f"{self.prefix}:room:{{{room}}}"
        return f"{base}:{name}" if name else base

    def _room_of(self, channel: str) -> str:
        return channel[len(self.prefix) + 7 : -1]

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await make()
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"event bus unavailable: {exc}") from exc

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="redisbus-reader")

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._close_pubsub()
        await self._redis.aclose()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    # --- publishing ----------------------------------------------------------------------

    async def publish(
        self, room: str, type: str, data: dict[str, Any], idempotency_key: str | None = None
    ) -> Event:
        now = self._clock()
        data_json = dumps_json(data)
        keys = [
            self._key(room, "epoch"),
            self._key(room, "seq"),
            self._key(room, "stream"),
            self._key(room, "state"),
            self._key(room, f"idem:{idempotency_key or ''}"),
        ]
        args: list[str | int] = [
            self._key(room),
            type,
            data_json,
            repr(now),
            new_epoch(),
            self.settings.history_events,
            int(self.settings.idempotency_ttl_s * 1000),
            "1" if idempotency_key else "0",
            "1" if type in STICKY_TYPES else "0",
        ]
        _, where = await self._call(lambda: self._publish(keys=keys, args=args))
        seq, epoch = _s(where).split("|", 1)
        return Event(type, int(seq), epoch, data, now)

    # --- subscribing and delivery --------------------------------------------------------

    async def subscribe(self, room: str, callback: EventCallback) -> None:
        """Deliver the room's events published from now on (after this returns), in order."""
        await self.start()
        sub = self._subs.get(room)
        if sub is not None:
            sub.callbacks.append(callback)
            return
        sub = self._subs[room] = _Sub([callback])
        try:
            await self._call(lambda: self._start_from_now(room, sub))
        except BusUnavailable:
            if self._subs.get(room) is sub:
                del self._subs[room]
            raise
        # Events published between the read above and the channel subscription arrive
        # through the gap fill of the next message or the idle catch-up.
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.subscribe(self._key(room))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sub.confirmed.wait(), 5.0)

    async def _start_from_now(self, room: str, sub: _Sub) -> None:
        epoch, seq = await self._redis.mget(self._key(room, "epoch"), self._key(room, "seq"))
        sub.order.start(_s(epoch) if epoch else None, int(seq or 0))

    async def unsubscribe(self, room: str, callback: EventCallback) -> None:
        sub = self._subs.get(room)
        if sub is None:
            return
        if callback in sub.callbacks:
            sub.callbacks.remove(callback)
        if not sub.callbacks:
            del self._subs[room]
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self._key(room))

    async def _read_forever(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self._closed:
            try:
                await self._connect_and_read()
            except (RedisError, OSError) as exc:
                log.warning(
                    "redis bus reader lost its connection (%s); retrying in %.1fs", exc, backoff
                )
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self.reconnects += 1
            else:
                backoff = BACKOFF_MIN_S

    async def _connect_and_read(self) -> None:
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(self._key("\x00keepalive"))
        rooms = list(self._subs)
        if rooms:
            await pubsub.subscribe(*[self._key(r) for r in rooms])
        for room in rooms:
            await self._catch_up(room)
        idle_since = time.monotonic()
        while not self._closed:
            message = await pubsub.get_message(timeout=CATCH_UP_IDLE_S)
            if message is not None:
                await self._on_message(message)
            if time.monotonic() - idle_since >= CATCH_UP_IDLE_S:
                for room in list(self._subs):
                    await self._catch_up(room)
                idle_since = time.monotonic()

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = _s(message["type"])
        room = self._room_of(_s(message["channel"]))
        sub = self._subs.get(room)
        if sub is None:
            return
        if kind == "subscribe":
            sub.confirmed.set()
            return
        if kind != "message":
            return
        await self._run(room, sub, sub.order.message(_message_event(message["data"])))

    async def _catch_up(self, room: str) -> None:
        sub = self._subs.get(room)
        if sub is None or not sub.order.started:
            return
        epoch, seq = await self._redis.mget(self._key(room, "epoch"), self._key(room, "seq"))
        await self._run(room, sub, sub.order.head(_s(epoch) if epoch else None, int(seq or 0)))

    async def _run(self, room: str, sub: _Sub, actions: list[Action]) -> None:
        """Carry out the sequencer's answers: deliver, read a range from the stream, log."""
        for action in actions:
            if isinstance(action, Deliver):
                self._deliver(sub, action.event)
            elif isinstance(action, Fetch):
                entries = await self._redis.xrange(
                    self._key(room, "stream"), f"{action.first}-0", f"{action.last}-0"
                )
                events = [_entry_event(i, f) for i, f in entries]
                await self._run(room, sub, sub.order.filled(events))
            elif isinstance(action, Lost):
                log.warning(
                    "room %s: events %d..%d are no longer in history", room, action.first, action.last
                )

    @staticmethod
    def _deliver(sub: _Sub, event: Event) -> None:
        for callback in list(sub.callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("room event subscriber failed")

    # --- history -------------------------------------------------------------------------

    async def recent(self, room: str) -> Recent:
        return await self._call(lambda: self._recent(room))

    async def _recent(self, room: str) -> Recent:
        keys = [self._key(room, n) for n in ("epoch", "seq", "stream", "state")]
        epoch = _s(await self._ensure(keys=keys, args=[new_epoch()]))
        sticky = sticky_in(map(_message_event, await self._redis.hvals(keys[3])), epoch)
        entries = await self._redis.xrevrange(keys[2], count=self.settings.history_events)
        seq = int(await self._redis.get(keys[1]) or 0)
        cutoff = self._clock() - self.settings.history_s
        events = (_entry_event(i, f) for i, f in reversed(entries))
        kept = recent_tail(events, epoch, seq, cutoff)
        return Recent(epoch, kept[-1].seq if kept else seq, kept, sticky)

    # --- presence ------------------------------------------------------------------------

    async def set_presence(self, room: str, count: int) -> int:
        ttl_ms = int(self.settings.presence_ttl_s * 1000)
        keys = [self._key(room, "presence")]
        args: list[str | int] = [self._key(room, "presence:"), self.node_id, count, ttl_ms]
        total = await self._call(lambda: self._presence(keys=keys, args=args))
        return int(total)
