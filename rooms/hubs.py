"""Every room this node holds: the hub registry (one ``RoomHub`` per room, hub.py).

``HubRegistry.get(slug)`` loads a room once however many sockets ask at the same moment:
its durable state from the ``RoomStore`` (settings, bans, timeouts, song voters), its events
from the bus (``recent``: history and sticky state), then subscribes the hub to the bus. A
``room.changed`` event reloads the room's info (hosts, catalog) from the store. Every
``presence_interval_s`` it publishes each room's viewer count when it changed (and every
few ticks anyway, to refresh this node's share in Redis) and drops rooms nobody on this node
has watched for ``idle_hub_s`` (a dropped room is rebuilt from the bus on next use).

Events that do not come from a socket (stream state, tips, boosts) are published here
(``publish_system``). The sockets themselves are sockethandler.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from rooms.bus import EventBus
from rooms.core import Limits, RoomState, visible
from rooms.errors import RoomsError
from rooms.history import History
from rooms.hub import Member, RoomHub
from rooms.moderation import RoomSettings
from rooms.ports import RoomStore

log = logging.getLogger(__name__)

PRESENCE_REFRESH_TICKS = 5


class HubRegistry:
    def __init__(
        self,
        bus: EventBus,
        store: RoomStore,
        *,
        history_events: int = 1000,
        history_s: float = 120.0,
        limits: Limits | None = None,
        presence_interval_s: float = 1.0,
        idle_hub_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.store = store
        self.history_events = history_events
        self.history_s = history_s
        self.limits = limits or Limits()
        self.presence_interval_s = presence_interval_s
        self.idle_hub_s = idle_hub_s
        self.clock = clock
        self.hubs: dict[str, RoomHub] = {}
        self._loading: dict[str, asyncio.Task[RoomHub | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._presence_loop(), name="room-presence")

    async def stop_ticking(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    async def close(self) -> None:
        """Unsubscribe every hub and forget it (the bus itself is the server's to close)."""
        await self.stop_ticking()
        for slug, hub in list(self.hubs.items()):
            with contextlib.suppress(RoomsError):
                await self.bus.unsubscribe(slug, hub.on_event)
        self.hubs.clear()
        for task in list(self._tasks):
            task.cancel()

    def members(self) -> Iterator[Member]:
        for hub in list(self.hubs.values()):
            yield from list(hub.members)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- loading -------------------------------------------------------------------------

    async def get(self, slug: str) -> RoomHub | None:
        """The room's hub, loaded once (None: no such room)."""
        hub = self.hubs.get(slug)
        if hub is not None:
            return hub
        task = self._loading.get(slug)
        if task is None:
            task = self._loading[slug] = asyncio.create_task(self._load(slug))
            task.add_done_callback(lambda _: self._loading.pop(slug, None))
        return await asyncio.shield(task)

    async def _load(self, slug: str) -> RoomHub | None:
        info = await self.store.room(slug)
        if info is None:
            return None
        settings = RoomSettings.parse(await self.store.load_settings(info.id))
        banned = await self.store.banned_user_ids(info.id)
        timeouts = await self.store.timeouts(info.id, self.clock())
        voters = await self.store.song_voters(info.id)
        state = RoomState(info, settings=settings, banned=banned, timeouts=timeouts, limits=self.limits)
        history = History(self.history_events, self.history_s)
        hub = RoomHub(slug, state, history, self._room_changed_event, idle_since=self.clock())
        await self.bus.subscribe(slug, hub.on_event)
        try:
            hub.load(await self.bus.recent(slug))
            state.songs.restore_voters(voters)
        except BaseException:
            await self.bus.unsubscribe(slug, hub.on_event)
            raise
        self.hubs[slug] = hub
        return hub

    def _room_changed_event(self, slug: str) -> None:
        self._spawn(self._reload_room(slug))

    async def _reload_room(self, slug: str) -> None:
        hub = self.hubs.get(slug)
        info = await self.store.room(slug)
        if hub is not None and info is not None:
            hub.state.info = info

    # --- events from the server ----------------------------------------------------------

    async def publish_system(
        self, slug: str, type: str, data: dict[str, Any], idempotency_key: str | None = None
    ) -> None:
        """Publish an event that does not come from a socket (stream.state, tip, ...).

        A ``tip`` gets a ``ts`` (publication time) unless it has one, so chat can place it
        among the messages, and its message loses invisible controls (rooms/text.py); a
        ``song.boost`` is followed by the ``song.queue`` that carries it (core.boosted)."""
        if type == "tip" and "ts" not in data:
            data = {**data, "ts": self.clock()}
        if type in ("tip", "alert.test") and isinstance(data.get("message"), str):
            data = {**data, "message": visible(data["message"], "tip")}  # others read it
        await self.bus.publish(slug, type, data, idempotency_key)
        if type == "song.boost":
            await self._publish_boosted_queue(slug, data, idempotency_key)

    async def _publish_boosted_queue(
        self, slug: str, boost: dict[str, Any], idempotency_key: str | None
    ) -> None:
        hub = await self.get(slug)
        if hub is None:
            return
        key = f"{idempotency_key}:queue" if idempotency_key else None
        for out in hub.state.boosted(boost).events:
            await self.bus.publish(slug, out.type, out.data, key)

    async def room_changed(self, slug: str) -> None:
        """Hosts, catalog or settings changed through REST: every node reloads the room."""
        await self.bus.publish(slug, "room.changed", {}, None)

    def viewers_here(self, slug: str) -> int:
        hub = self.hubs.get(slug)
        return hub.viewers() if hub else 0

    # --- presence and idle rooms ---------------------------------------------------------

    async def _presence_loop(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self.presence_interval_s)
            tick += 1
            for hub in list(self.hubs.values()):
                if hub.idle(self.clock(), self.idle_hub_s):
                    await self._drop(hub)
                elif hub.presence_dirty or tick % PRESENCE_REFRESH_TICKS == 0:
                    try:
                        await self._presence(hub)
                    except RoomsError as exc:
                        log.warning("presence for %s failed: %s", hub.slug, exc)

    async def _drop(self, hub: RoomHub) -> None:
        """Forget a room nobody on this node watches (its replica is rebuilt on next use)."""
        if self.hubs.get(hub.slug) is hub:
            del self.hubs[hub.slug]
            with contextlib.suppress(RoomsError):
                await self.bus.set_presence(hub.slug, 0)
                await self.bus.unsubscribe(hub.slug, hub.on_event)

    async def _presence(self, hub: RoomHub) -> None:
        hub.presence_dirty = False
        total = await self.bus.set_presence(hub.slug, hub.viewers())
        if total != hub.state.viewers:
            await self.bus.publish(hub.slug, "presence", {"viewers": total}, None)
