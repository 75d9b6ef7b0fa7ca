"""Prometheus metrics of the RTMP server and client (default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

REJECTED = Counter(
    "nal_rtmp_rejected_total",
    "RTMP connections or publishes refused, by reason (bad_key, throttled, pending_evicted...)",
    ["reason"],
)
PROTOCOL_ERRORS = Counter(
    "nal_rtmp_protocol_errors_total",
    "RTMP connections closed because the peer broke the protocol, by error kind",
    ["kind"],
)
CONNECTIONS = Gauge(
    "nal_rtmp_connections",
    "Open inbound RTMP connections, by state (pending = not yet publishing)",
    ["state"],
)
PUBLISHES = Counter("nal_rtmp_publishes_total", "RTMP publishes accepted")
CLIENT_DROPPED_UNITS = Counter(
    "nal_rtmp_client_dropped_units_total",
    "Units the RTMP publisher client dropped because its write buffer was full",
)
