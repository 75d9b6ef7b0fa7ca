"""Prometheus metrics of WHIP and WHEP (default registry, exposed by the server at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REFUSED = Counter(
    "nal_webrtc_refused_total",
    "WHIP/WHEP requests refused, by endpoint and reason (bad_key, throttled, viewers_full...)",
    ["kind", "reason"],
)
NEVER_CONNECTED = Counter(
    "nal_webrtc_never_connected_total",
    "WHIP/WHEP sessions dropped because their peer connection did not connect in time",
    ["kind"],
)
SESSIONS = Gauge("nal_webrtc_sessions", "Open WHIP/WHEP sessions, by endpoint", ["kind"])
