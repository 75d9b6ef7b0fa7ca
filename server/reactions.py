"""What the server does when something happens elsewhere: the router's handlers.

``install`` registers every reaction; nothing else calls ``Router.on``. Room-facing
reactions publish through the gateway's system publish with an idempotency key, so a
retried reaction never shows twice.
"""

from __future__ import annotations

import itertools
import time

from rooms.gateway import RoomGateway
from server.router import RelayStateChanged, Router, StreamStateChanged

PUBLIC_RELAY_STATUS = ("id", "platform", "state", "next_attempt_at")


def install(router: Router, gateway: RoomGateway) -> None:
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
    router.on(RelayStateChanged, relay_state)
