"""What the server does when something happens elsewhere: the router's handlers.

``install`` registers every reaction; nothing else calls ``Router.on``. Room-facing
reactions publish through the gateway's system publish with an idempotency key, so a
retried reaction never shows twice.
"""

from __future__ import annotations

import itertools
import time

from rooms.bus import EventCallback
from rooms.events import Event
from rooms.gateway import RoomGateway
from server.live import STREAM_END, Live
from server.router import RelayStateChanged, Router, StreamEndRequested, StreamStateChanged

PUBLIC_RELAY_STATUS = ("id", "platform", "state", "next_attempt_at")


def install(router: Router, gateway: RoomGateway, live: Live) -> None:
    changes = itertools.count()

    async def stream_state(event: StreamStateChanged) -> None:
        await gateway.publish_system(event.slug, "stream.state", dict(event.data), event.key)

    async def relay_state(event: RelayStateChanged) -> None:
        """A target's state change as the room event ``restream.state``.

        Room events reach every fan, so they carry only the public part (which platform,
        live or not). Reasons (the ingest server's own words), byte counts and URLs stay
        behind the owner-only ``GET /api/rooms/{slug}/restreams``."""
        status = event.status
        public = {k: status[k] for k in PUBLIC_RELAY_STATUS if k in status}
        key = f"restream:{event.slug}:{status['id']}:{status['state']}:{next(changes)}:{time.time()}"
        await gateway.publish_system(event.slug, "restream.state", public, key)

    router.on(StreamStateChanged, stream_state)
    _watch_held_streams(router, gateway, live)
    router.on(RelayStateChanged, relay_state)


def _watch_held_streams(router: Router, gateway: RoomGateway, live: Live) -> None:
    """While this node holds a room's stream it listens to the room's events, so an owner's
    ``stream.end`` published on any node ends the stream here (key rotated, stream ended)."""
    watching: dict[str, EventCallback] = {}

    def callback(slug: str) -> EventCallback:
        def on_event(event: Event) -> None:
            if event.type == STREAM_END:
                router.emit(StreamEndRequested(slug))

        return on_event

    async def watch(event: StreamStateChanged) -> None:
        slug, held = event.slug, event.data.get("state") != "offline"
        if held and slug not in watching:
            watching[slug] = callback(slug)  # before the await: one subscription per stream
            await gateway.bus.subscribe(slug, watching[slug])
        elif not held and slug in watching:
            await gateway.bus.unsubscribe(slug, watching.pop(slug))

    async def end_held(event: StreamEndRequested) -> None:
        await live.end_stream(event.slug)

    router.on(StreamStateChanged, watch)
    router.on(StreamEndRequested, end_held)
