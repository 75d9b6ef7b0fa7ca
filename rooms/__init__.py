"""Live interaction: the room socket, chat, presence, moderation, song requests, event bus.

Public API (what ``server`` wires):

- ``rooms.gateway.RoomGateway(bus, store, gate, *, max_frame, buffer, heartbeat_s,
  history_events, history_s, limits, presence_interval_s, idle_hub_s, clock, limiter)`` with
  ``start()``, ``handle(request, slug, identity, *, read_only)``, ``publish_system(slug, type, data,
  idempotency_key)``, ``room_changed(slug)``, ``close(code=1012)``.
- ``rooms.bus.MemoryBus(BusSettings)`` and ``rooms.redisbus.RedisBus(url, prefix,
  BusSettings)``, both ``EventBus``.
- ``rooms.ratelimit.MemoryRateLimiter(clock)`` and ``rooms.redislimit.RedisRateLimiter(redis,
  prefix)``, both ``RateLimiter`` (the chat buckets).
- ``rooms.ports``: ``RoomStore``, ``Gate``, ``FreeRoomGate``, ``Identity``, ``RoomInfo``,
  ``Song``, ``Admission``.

Layers: registry.py (ops and events declared once), protocol.py, events.py, roomevents.py,
core.py, ops.py, sequencer.py (+ ratelimit, terms, moderation, songs, history) are Sans-I/O; bus.py/redisbus.py, redislimit.py, fanout.py, hub.py and gateway.py are the
adapters.
"""
