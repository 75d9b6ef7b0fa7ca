"""What the money routes need to know of a room's live state, read from the event bus.

The song-request queue lives in the room's replica, which is built from the bus
(``recent``: history plus the last event of each sticky type). These reads rebuild just the
part needed with the rooms package's own pure rules (``SongQueue``), on whichever node the
HTTP request reaches, without touching a gateway's hubs. (A tip's timeout check reads the
stored timeouts with the tip's room, ``SqlStore.tip_room``: a notice leaves history after
about two minutes, a timeout can last longer.)
"""

from __future__ import annotations

from rooms.bus import EventBus
from rooms.events import Event
from rooms.songs import SongQueue, SongRequestEntry


async def _recent(bus: EventBus, slug: str, type_: str) -> list[Event]:
    """The room's recent events of one type, in seq order. Filtered before anything else:
    history holds up to ``--history-events`` of every type (tips, chat), read per request."""
    recent = await bus.recent(slug)
    seen: dict[tuple[str, int], Event] = {}
    for source in (recent.sticky, recent.events):
        for event in source:
            if event.type == type_:
                seen[(event.epoch, event.seq)] = event
    return sorted(seen.values(), key=lambda e: e.seq)


async def song_request(bus: EventBus, slug: str, request_id: str) -> SongRequestEntry | None:
    """The request if it is still queued or playing, else ``None``."""
    queue: SongQueue | None = None
    for event in await _recent(bus, slug, "song.queue"):
        try:
            queue = SongQueue.from_wire(list(event.data["queue"]))
        except (KeyError, TypeError, ValueError):
            continue
    entry = queue.get(request_id) if queue is not None else None
    return entry if entry is not None and entry.status in ("queued", "playing") else None


async def live_summary(bus: EventBus, slug: str) -> tuple[str, int]:
    """The room's stream state (``live``, ``reconnecting`` or ``offline``) and its viewers (0
    when offline), from the last ``stream.state`` and ``presence`` events every node shares."""
    state, viewers = "offline", 0
    for event in (await bus.recent(slug)).sticky:
        if event.type == "stream.state":
            state = str(event.data.get("state", "offline"))
        elif event.type == "presence":
            viewers = int(event.data.get("viewers", 0) or 0)
    if state not in ("live", "reconnecting"):
        return "offline", 0
    return state, viewers
