"""Errors of the rooms package.

    RoomsError
    ├── FrameError              the peer sent a frame we cannot use (socket stays open)
    │   ├── InvalidJSON         code "invalid_json": a text frame that is not JSON
    │   ├── InvalidMsgpack      code "invalid_msgpack": a binary frame that is not MessagePack
    │   ├── InvalidText         code "invalid_text": a string that is not Unicode scalar values
    │   ├── WrongFrameType      code "wrong_frame_type": text on a MessagePack socket or binary on JSON
    │   ├── NotAnObject         code "not_object": valid JSON/MessagePack, but not a map
    │   ├── UnknownOp           code "unknown_op": "op" missing or not one we know
    │   └── BadField            code "bad_field": a field is missing, of the wrong type or out of range
    │       └── BadTerms        code "bad_terms": blocked terms outside their bounds (terms.py)
    ├── Refused                 a well-formed op the room's rules refuse ("forbidden", "rate_limited", ...)
    └── BusError                the event bus failed (Redis down, ...); wraps the library's exception
        └── BusUnavailable      code "unavailable": could not reach the bus, retry later

"We were called wrongly" is not in this tree: it raises ``TypeError``/``ValueError``
as usual. Every error a client may see has a ``code`` and a readable message.
"""

from __future__ import annotations

from typing import Any


class RoomsError(Exception):
    code = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class FrameError(RoomsError):
    """The peer sent garbage. ``client_id`` is the frame's ``id`` when we could read it."""

    code = "bad_frame"

    def __init__(self, message: str, client_id: Any = None, code: str | None = None) -> None:
        super().__init__(message, code)
        self.client_id = client_id


class InvalidJSON(FrameError):
    code = "invalid_json"


class InvalidMsgpack(FrameError):
    code = "invalid_msgpack"


class InvalidText(FrameError):
    """A lone surrogate (``\\ud800`` in JSON, its bytes in MessagePack): never stored."""

    code = "invalid_text"


class WrongFrameType(FrameError):
    code = "wrong_frame_type"


class NotAnObject(FrameError):
    code = "not_object"


class UnknownOp(FrameError):
    code = "unknown_op"


class BadField(FrameError):
    code = "bad_field"


class BadTerms(BadField):
    code = "bad_terms"


class Refused(RoomsError):
    """The rules refuse a valid op; ``code`` names the rule (see core.py for the list)."""

    code = "forbidden"


class BusError(RoomsError):
    code = "bus_error"


class BusUnavailable(BusError):
    code = "unavailable"
