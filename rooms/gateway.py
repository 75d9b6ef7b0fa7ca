"""The room socket ``GET /ws/rooms/{slug}``: what the server wires, in two parts.

``RoomGateway`` is the composition the server holds: the hub registry (hubs.py: the rooms
this node holds, their loading, presence and idle drop, events from the server) and the
socket handler (sockethandler.py: one socket from upgrade to close, its ops through decide,
effects, bus, ack). The server authenticates (cookie or ``?token=``) and calls
``RoomGateway.handle(request, slug, identity)``.

First frame:
- no ``since``: ``{"type":"snapshot","seq","epoch","data":{stream, chat, queue, pinned,
  settings, viewers, tips, supporters, voted?}}``; its ``stream`` is the media hub's
  (``LiveStreams``) when this node holds the stream, else the replica's; ``voted`` (signed-in
  sockets only): the ids of the queued requests this user voted for;
- ``?since=SEQ&epoch=E`` and history holds everything after SEQ: ``{"type":"recovered",
  "seq":SEQ,"epoch":E}`` followed by exactly the missed events, in order;
- otherwise a snapshot with ``"recovered": false``.

Close codes: 1009 frame larger than ``max_frame``; 1012 server restarting (reconnect);
4001 the gate does not admit this user to the room (reason in the close message; a gate
that says more, e.g. a paid show's public info, sends a ``not_admitted`` frame first);
4003 banned (on every node, when the ban event arrives); 4008 slow consumer (fanout.py).
Unknown rooms get HTTP 404 before the upgrade.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from rooms.bus import EventBus
from rooms.caps import GUESTS_PER_ADDRESS, MAX_SOCKETS, SOCKETS_PER_USER
from rooms.core import Limits
from rooms.fanout import RESTARTING
from rooms.hub import RoomHub
from rooms.hubs import HubRegistry
from rooms.ports import Gate, Identity, LiveStreams, RoomStore
from rooms.ratelimit import RateLimiter
from rooms.sockethandler import SocketHandler

__all__ = ["RoomGateway"]


class RoomGateway:
    def __init__(
        self,
        bus: EventBus,
        store: RoomStore,
        gate: Gate,
        *,
        max_frame: int = 16 * 1024,
        buffer: int = 512,
        heartbeat_s: float = 20.0,
        history_events: int = 1000,
        history_s: float = 120.0,
        limits: Limits | None = None,
        presence_interval_s: float = 1.0,
        idle_hub_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        streams: LiveStreams | None = None,
        guests_per_address: int = GUESTS_PER_ADDRESS,
        sockets_per_user: int = SOCKETS_PER_USER,
        max_sockets: int = MAX_SOCKETS,
        limiter: RateLimiter | None = None,
        on_published: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.bus = bus
        self.rooms = HubRegistry(
            bus,
            store,
            history_events=history_events,
            history_s=history_s,
            limits=limits,
            presence_interval_s=presence_interval_s,
            idle_hub_s=idle_hub_s,
            clock=clock,
        )
        self.sockets = SocketHandler(
            self.rooms,
            bus,
            store,
            gate,
            max_frame=max_frame,
            buffer=buffer,
            heartbeat_s=heartbeat_s,
            clock=clock,
            streams=streams,
            guests_per_address=guests_per_address,
            sockets_per_user=sockets_per_user,
            max_sockets=max_sockets,
            limiter=limiter,
            on_published=on_published,
        )

    @property
    def hubs(self) -> dict[str, RoomHub]:
        return self.rooms.hubs

    @property
    def store(self) -> RoomStore:
        return self.rooms.store

    @store.setter
    def store(self, store: RoomStore) -> None:
        self.rooms.store = self.sockets.store = store

    @property
    def gate(self) -> Gate:
        return self.sockets.gate

    @gate.setter
    def gate(self, gate: Gate) -> None:
        self.sockets.gate = gate

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.rooms.start()

    async def close(self, code: int = RESTARTING) -> None:
        """Drain: tell every socket to reconnect (1012 by default), wait briefly, stop.

        The bus is not closed here: the server owns it and closes it after the gateway."""
        self.sockets.closing = True
        await self.rooms.stop_ticking()
        writers = [m.writer for m in self.rooms.members()]
        for writer in writers:
            writer.close_soon(code, "server restarting, reconnect")
        await asyncio.gather(*(w.wait_closed(3.0) for w in writers))
        await self.rooms.close()

    # --- the socket and the server's calls -------------------------------------------------

    def handle(
        self,
        request: web.Request,
        slug: str,
        identity: Identity | None,
        *,
        read_only: bool = False,
        address: str | None = None,
    ) -> Coroutine[Any, Any, web.StreamResponse]:
        """Serve one room socket (sockethandler.py). The handler's coroutine itself, not one
        awaiting it: a frame less that every open socket would hold."""
        return self.sockets.handle(
            request, slug, identity, read_only=read_only, address=address
        )

    async def publish_system(
        self, slug: str, type: str, data: dict[str, Any], idempotency_key: str | None = None
    ) -> None:
        """Publish an event that does not come from a socket (hubs.py)."""
        await self.rooms.publish_system(slug, type, data, idempotency_key)

    async def room_changed(self, slug: str) -> None:
        await self.rooms.room_changed(slug)

    def viewers_here(self, slug: str) -> int:
        return self.rooms.viewers_here(slug)
