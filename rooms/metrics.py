"""Prometheus metrics of the room sockets (default registry, scraped at /metrics).

Hot-path counters are incremented in bulk (once per event or per writer batch), not once
per socket per frame.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FRAMES_IN = Counter("nal_ws_frames_in", "Frames received on room sockets")
FRAMES_OUT = Counter("nal_ws_frames_out", "Frames written to room sockets")
ERRORS = Counter("nal_ws_errors", "Error frames sent to room sockets, by code", ["code"])
SLOW_CONSUMERS = Counter(
    "nal_ws_slow_consumer", "Room sockets closed because their outbound buffer was full"
)
SOCKETS_OPEN = Gauge("nal_ws_sockets_open", "Room sockets open on this node")
DELIVERIES = Counter("nal_room_deliveries", "Room events appended to socket buffers")
EVENTS = Counter("nal_room_events", "Room events applied on this node")
EVENTS_DROPPED = Counter(
    "nal_room_events_dropped",
    "Room events dropped because they cannot be encoded (never applied, stored or sent)",
)
FRAMES_DROPPED = Counter(
    "nal_ws_frames_dropped", "Server frames (acks, snapshots) that could not be encoded"
)
TEXT_CLEANED = Counter(
    "nal_text_cleaned",
    "User text shown to others that had invisible controls stripped (rooms/text.py), by field",
    ["field"],
)
SOCKETS_REFUSED = Counter(
    "nal_ws_refused", "Room sockets refused before the upgrade by a cap (caps.py), by reason", ["reason"]
)
