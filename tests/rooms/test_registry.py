"""Each room op and event is declared once, and everything reads the declarations."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from rooms.bus import STICKY_TYPES
from rooms.errors import BadField, UnknownOp
from rooms.ops import ROOM, describe, parse_frame
from rooms.protocol import Command, WireFormat
from rooms.registry import MEMBERS, DuplicateDeclaration, Registry, Role

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_type_is_one_declared_op() -> None:
    commands = set(typing.get_args(Command))
    declared = {spec.command for spec in ROOM.ops()}
    assert declared == commands
    assert len({spec.name for spec in ROOM.ops()}) == len(commands)


def test_the_parser_knows_exactly_the_declared_ops() -> None:
    for spec in ROOM.ops():  # no fields: the op's own parser answers (chat.pin: unpin)
        try:
            frame = parse_frame(f'{{"op":"{spec.name}","id":1}}', WireFormat.JSON)
        except BadField as exc:
            assert exc.client_id == 1, spec.name
        else:
            assert (frame.op, type(frame.command)) == (spec.name, spec.command)
    with pytest.raises(UnknownOp) as unknown:
        parse_frame('{"op":"chat.shout","id":1}', WireFormat.JSON)
    assert ", ".join(sorted(ROOM.op_names())) in str(unknown.value)


def test_sticky_types_come_from_the_event_declarations() -> None:
    assert STICKY_TYPES == {"stream.state", "chat.pinned", "song.queue", "presence", "room.settings"}


def test_events_round_trip_their_wire_data() -> None:
    samples = {
        "chat.message": {"id": "m1", "user": {"id": 3, "name": "fay", "role": "fan"}, "text": "hi", "ts": 1.5},
        "chat.hidden": {"message_ids": ["m1", "m2"]},
        "chat.pinned": {"message": None},
        "room.settings": {"slow_mode_s": 5, "chat": "everyone", "blocked_terms": ["spam"]},
        "mod.notice": {"action": "timeout", "user": "t", "user_id": 9, "by": "o", "seconds": 60, "until": 99.0},
        "song.queue": {"queue": [], "change": {"op": "skip", "request_id": "r"}},
        "stream.state": {"live": True, "state": "live"},
        "presence": {"viewers": 4},
        "tip": {"id": "t1", "from": "fay", "amount": 500, "currency": "USD", "message": "hi"},
        "tip.refunded": {"id": "t1"},
        "tip.hidden": {"id": "t1"},
        "song.boost": {"request_id": "r", "boost_id": "b", "amount": 300},
        "room.changed": {},
        "access.revoked": {"user_id": 4},
        "dropped": {},
    }
    assert {ev.name for ev in ROOM.events()} == set(samples)
    for name, data in samples.items():
        spec = ROOM.event_named(name)
        assert spec is not None and ROOM.event_for(spec.parse(data)) is spec
        assert spec.parse(data).serialize() == data, name


def test_a_name_is_declared_once() -> None:
    registry = Registry()

    class Shout:
        @classmethod
        def parse(cls, fields: dict[str, object], client_id: object) -> Shout:
            return cls()

    registry.op("chat.shout", Shout, MEMBERS, "shout")(lambda *a: None)
    with pytest.raises(DuplicateDeclaration):
        registry.op("chat.shout", Shout, frozenset({Role.OWNER}), "again")(lambda *a: None)
    spec = registry.op_named("chat.shout")
    assert spec is not None and spec.who == MEMBERS and isinstance(spec.parse({}, 1), Shout)


def test_the_protocol_page_is_generated_from_the_registry() -> None:
    page = (ROOT / "docs" / "room-protocol.md").read_text()
    assert page == describe(), "run: python -m rooms.ops > docs/room-protocol.md"
    for spec in ROOM.ops():
        assert f"| `{spec.name}` |" in page
