"""Prometheus metrics of the hub (default registry, exposed by the server at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

READER_DROPS = Counter(
    "nal_hub_reader_drops_total",
    "Units a slow reader skipped (buffer overflow, then skip to the next keyframe).",
    ["kind"],
)
UNITS = Counter("nal_hub_units_total", "Units written by publishers.", ["kind"])
LIVE_STREAMS = Gauge("nal_hub_streams", "Streams held by the hub, by state.", ["state"])
READERS = Gauge("nal_hub_readers", "Readers attached to streams.", ["kind"])
THUMBNAILS = Counter(
    "nal_hub_thumbnails_total",
    "Still frames decoded from live streams' keyframes (made) or that could not be (failed).",
    ["result"],
)
