"""Command (20, 17) and data (18, 15) messages: AMF0 values with a name up front.

A command is ``name, transaction id, command object, *arguments`` (spec 7.1.1);
a data message is ``name, *values``.  The AMF3 variants (17, 15) start with a
format byte 0 and then carry AMF0, which is what every client we know sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import amf0
from .errors import CommandError
from .limits import MSG_COMMAND_AMF0, MSG_COMMAND_AMF3, MSG_DATA_AMF0, MSG_DATA_AMF3


def _values(type_id: int, payload: bytes) -> list[Any]:
    if type_id in (MSG_COMMAND_AMF3, MSG_DATA_AMF3):
        if not payload or payload[0] != 0:
            raise CommandError(f"AMF3 message {type_id} without the 0 format byte")
        payload = payload[1:]
    return amf0.decode_all(payload)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    transaction_id: float
    command_object: Any = None
    arguments: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, type_id: int, payload: bytes) -> Command:
        values = _values(type_id, payload)
        if len(values) < 2 or not isinstance(values[0], str) or not isinstance(values[1], float):
            raise CommandError(f"command without name and transaction id: {values[:2]!r}")
        obj = values[2] if len(values) > 2 else None
        return cls(values[0], values[1], obj, tuple(values[3:]))

    def serialize(self) -> bytes:
        return amf0.encode_all(self.name, self.transaction_id, self.command_object, *self.arguments)

    def argument(self, index: int) -> Any:
        return self.arguments[index] if index < len(self.arguments) else None


@dataclass(frozen=True, slots=True)
class DataMessage:
    name: str
    values: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, type_id: int, payload: bytes) -> DataMessage:
        values = _values(type_id, payload)
        if not values or not isinstance(values[0], str):
            raise CommandError("data message without a name")
        return cls(values[0], tuple(values[1:]))

    def serialize(self) -> bytes:
        return amf0.encode_all(self.name, *self.values)


COMMAND_TYPES = (MSG_COMMAND_AMF0, MSG_COMMAND_AMF3)
DATA_TYPES = (MSG_DATA_AMF0, MSG_DATA_AMF3)


def status_info(level: str, code: str, description: str, **extra: Any) -> dict[str, Any]:
    """The info object of ``onStatus`` and of connect's ``_result``."""
    return {"level": level, "code": code, "description": description, **extra}
