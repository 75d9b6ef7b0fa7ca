"""Prometheus metrics of the relay, labelled by target (``room/id``, never the key) or by refusal rule."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BYTES = Counter("nal_relay_bytes_total", "Bytes sent to a restream target", ["target"])
RECONNECTS = Counter("nal_relay_reconnects_total", "Reconnect attempts of a restream target", ["target"])
DROPS = Counter("nal_relay_drops_total", "Units a slow restream target skipped", ["target"])
BITRATE = Gauge("nal_relay_bitrate_bps", "Bits per second sent to a restream target (last seconds)", ["target"])
UPTIME = Gauge("nal_relay_uptime_seconds", "Seconds the current connection of a target has been live", ["target"])
DESTINATION_REFUSED = Counter(
    "nal_relay_destination_refused_total",
    "Restream destinations refused by the destination policy, when saved (create) or connecting (connect)",
    ["stage", "rule"])
STATE = Gauge("nal_relay_state", "1 for the state a restream target is in", ["target", "state"])


def forget(label: str) -> None:
    """Remove a deleted target's series."""
    for metric in (BYTES, RECONNECTS, DROPS, BITRATE, UPTIME):
        try:
            metric.remove(label)
        except KeyError:
            pass
    for state in ("idle", "connecting", "live", "retrying", "failed"):
        try:
            STATE.remove(label, state)
        except KeyError:
            pass
