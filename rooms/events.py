"""A room event as every node and every socket sees it, encoded once per wire format.

An event is ``{"type": NAME, "seq": N, "epoch": E, "data": {...}}``. ``seq`` grows by one per
event in a room; ``epoch`` names one unbroken history of those seqs (a new epoch means the
history was lost, e.g. Redis restarted without persistence, and seqs start again at 1).

The encodings are cached on the object, so a fan-out to ten thousand sockets encodes the
event once as JSON text and once as MessagePack bytes, whatever the number of readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import msgpack


def dumps_json(value: Any) -> str:
    """Compact JSON as it goes on the wire (no spaces, UTF-8 kept as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_msgpack(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


@dataclass(frozen=True, eq=False)
class Event:
    type: str
    seq: int
    epoch: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0
    """Wall-clock time of publication (seconds); used for time-bounded history, not sent."""

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "seq": self.seq, "epoch": self.epoch, "data": self.data}

    @cached_property
    def json_text(self) -> str:
        return dumps_json(self.wire())

    @cached_property
    def msgpack_bytes(self) -> bytes:
        return dumps_msgpack(self.wire())
