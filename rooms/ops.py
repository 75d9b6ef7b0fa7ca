"""The room's ops and events as declared (registry.py, by core.py and roomevents.py): the
frame parser and the protocol page. Sans-I/O.

``parse_frame(payload, fmt)`` turns one client frame into a ``ClientFrame`` with its typed
command, or raises a ``FrameError`` naming what was wrong. ``describe()`` is the Markdown
of every op (who may do it, its fields) and every event (sticky or not), which
docs/room-protocol.md holds and a test keeps equal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rooms import core, roomevents  # noqa: F401  (their declarations fill ROOM)
from rooms.errors import UnknownOp
from rooms.protocol import ClientFrame, WireFormat, parse_envelope
from rooms.registry import ROOM, Role

__all__ = ["ROOM", "describe", "parse_frame"]


def parse_frame(payload: str | bytes, fmt: WireFormat) -> ClientFrame:
    """Parse one client frame; raise a ``FrameError`` saying what is wrong with it."""
    op, fields, cid = parse_envelope(payload, fmt)
    spec = ROOM.op_named(op) if isinstance(op, str) else None
    if spec is None:
        known = ", ".join(sorted(ROOM.op_names()))
        raise UnknownOp(f"unknown op {op!r}; known: {known}", cid)
    return ClientFrame(spec.name, cid, spec.parse(fields, cid))


def _fields(cls: type[Any]) -> str:
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    return ", ".join(f"`{n}`" for n in names) or "none"


def _who(roles: frozenset[Role]) -> str:
    return ", ".join(r.value for r in Role if r in roles)


def describe() -> str:
    """The protocol page: every declared op and event, generated from the registry."""
    lines = [
        "# Room socket ops and events",
        "",
        "Generated from the declarations in `rooms/core.py` and `rooms/roomevents.py`",
        "(`python -m rooms.ops > docs/room-protocol.md`); see `rooms/protocol.py` for the",
        "envelope. Anyone else is refused with `forbidden`.",
        "",
        "## Ops (client -> server: `{\"op\": NAME, \"id\": ..., ...fields}`)",
        "",
        "| op | fields | who may | what |",
        "| --- | --- | --- | --- |",
    ]
    for spec in ROOM.ops():
        lines.append(f"| `{spec.name}` | {_fields(spec.command)} | {_who(spec.who)} | {spec.summary} |")
    lines += [
        "",
        "## Events (server -> client: `{\"type\": NAME, \"seq\", \"epoch\", \"data\"}`)",
        "",
        "Sticky: the bus keeps the last one beyond history, so a node that starts the room",
        "later still has that piece of state for its snapshot.",
        "",
        "| type | data | sticky |",
        "| --- | --- | --- |",
    ]
    for ev in ROOM.events():
        lines.append(f"| `{ev.name}` | {ev.summary} | {'yes' if ev.sticky else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(describe(), end="")
