"""The room socket's envelope, Sans-I/O: client frames in, server frames out.

Client -> server, one op per frame::

    {"op": NAME, "id": CLIENT_ID, ...fields}

``id`` is any string or integer the client chooses (or absent); it comes back in the
``ack`` or ``error`` for that op. Server -> client::

    {"type": "ack", "id": ...}
    {"type": "error", "id": ..., "code": ..., "message": ...}
    {"type": "snapshot", "seq": N, "epoch": E, "recovered": bool?, "data": {...}}
    {"type": "not_admitted", "code": ..., "message": ..., "data": {...}}   (then close 4001)
    {"type": NAME, "seq": N, "epoch": E, "data": {...}}          (events, see events.py)

Wire formats: JSON text frames by default; MessagePack binary frames when the client asks
for the subprotocol ``nal.v1.msgpack``. The same maps travel in both.

``parse_envelope`` decodes one frame; ``ops.parse_frame`` turns it into a typed command
(frozen dataclasses below, each with the parser of its fields) or raises a ``FrameError``
(errors.py) naming what was wrong; nothing here does I/O.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

import msgpack

from rooms.errors import (
    BadField,
    InvalidJSON,
    InvalidMsgpack,
    InvalidText,
    NotAnObject,
    WrongFrameType,
)
from rooms.events import dumps_json, dumps_msgpack
from rooms.text import has_lone_surrogate

MSGPACK_SUBPROTOCOL = "nal.v1.msgpack"


class WireFormat(enum.Enum):
    JSON = "json"
    MSGPACK = "msgpack"

    @classmethod
    def for_subprotocol(cls, subprotocol: str | None) -> WireFormat:
        return cls.MSGPACK if subprotocol == MSGPACK_SUBPROTOCOL else cls.JSON


# --- field readers -----------------------------------------------------------------------


def _str(fields: dict[str, Any], name: str, cid: Any, *, max_len: int = 10_000) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise BadField(f"{name!r} must be a string", cid)
    if len(value) > max_len:
        raise BadField(f"{name!r} is longer than {max_len} characters", cid)
    return value


def _int(fields: dict[str, Any], name: str, cid: Any) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadField(f"{name!r} must be an integer", cid)
    return value


def _id(fields: dict[str, Any], name: str, cid: Any) -> str:
    value = _str(fields, name, cid, max_len=64)
    if not value:
        raise BadField(f"{name!r} must not be empty", cid)
    return value


def _user(fields: dict[str, Any], cid: Any) -> str:
    return _str(fields, "user", cid, max_len=64)


# --- commands: one frozen dataclass per op, with the parser of its fields ---------------------
# (the op itself, its name, who may do it and its rule, is declared in core.py: registry.py)


@dataclass(frozen=True)
class ChatSend:
    text: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ChatSend:
        return cls(_str(f, "text", cid))


@dataclass(frozen=True)
class ChatDelete:
    message_id: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ChatDelete:
        return cls(_id(f, "message_id", cid))


@dataclass(frozen=True)
class ChatPin:
    message_id: str | None
    """``None`` unpins."""

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ChatPin:
        if f.get("message_id") is None:
            return cls(None)
        return cls(_id(f, "message_id", cid))


@dataclass(frozen=True)
class ModTimeout:
    user: str
    seconds: int

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ModTimeout:
        return cls(_user(f, cid), _int(f, "seconds", cid))


@dataclass(frozen=True)
class ModBan:
    user: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ModBan:
        return cls(_user(f, cid))


@dataclass(frozen=True)
class ModUnban:
    user: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> ModUnban:
        return cls(_user(f, cid))


@dataclass(frozen=True)
class RoomSettingsOp:
    """A partial update: ``None`` keeps the current value."""

    slow_mode_s: int | None = None
    chat: str | None = None
    blocked_terms: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> RoomSettingsOp:
        slow = _int(f, "slow_mode_s", cid) if "slow_mode_s" in f else None
        chat = _str(f, "chat", cid) if "chat" in f else None
        terms: tuple[str, ...] | None = None
        if "blocked_terms" in f:
            raw = f["blocked_terms"]
            if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
                raise BadField("'blocked_terms' must be a list of strings", cid)
            terms = tuple(raw)
        if slow is None and chat is None and terms is None:
            raise BadField("room.settings needs slow_mode_s, chat or blocked_terms", cid)
        return cls(slow, chat, terms)


@dataclass(frozen=True)
class SongRequest:
    song_id: int

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> SongRequest:
        return cls(_int(f, "song_id", cid))


@dataclass(frozen=True)
class _RequestOp:
    request_id: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> Any:
        return cls(_id(f, "request_id", cid))


@dataclass(frozen=True)
class SongVote(_RequestOp):
    pass


@dataclass(frozen=True)
class SongPlay(_RequestOp):
    pass


@dataclass(frozen=True)
class SongSkip(_RequestOp):
    pass


@dataclass(frozen=True)
class SongDone(_RequestOp):
    pass


@dataclass(frozen=True)
class TipHide:
    """Hide a tip's message for everyone (``tip_id``, since ``id`` is the frame's own)."""

    tip_id: str

    @classmethod
    def parse(cls, f: dict[str, Any], cid: Any) -> TipHide:
        return cls(_id(f, "tip_id", cid))


Command = (
    ChatSend
    | ChatDelete
    | ChatPin
    | ModTimeout
    | ModBan
    | ModUnban
    | RoomSettingsOp
    | SongRequest
    | SongVote
    | SongPlay
    | SongSkip
    | SongDone
    | TipHide
)


@dataclass(frozen=True)
class ClientFrame:
    op: str
    id: Any
    command: Command


# --- parsing -----------------------------------------------------------------------------


def _decode(payload: str | bytes, fmt: WireFormat) -> Any:
    if fmt is WireFormat.JSON:
        if not isinstance(payload, str):
            raise WrongFrameType("this socket speaks JSON text frames")
        return _decode_json(payload)
    if not isinstance(payload, bytes | bytearray):
        raise WrongFrameType(
            f"this socket speaks MessagePack binary frames ({MSGPACK_SUBPROTOCOL})"
        )
    try:
        return msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except UnicodeDecodeError:
        raise InvalidText(_NOT_TEXT) from None
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise InvalidMsgpack(f"frame is not valid MessagePack: {exc}") from None


_NOT_TEXT = "frame holds text that is not valid Unicode (a lone surrogate)"


def _decode_json(payload: str) -> Any:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise InvalidJSON(f"frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON("frame is not valid JSON: nested too deeply") from None
    # The text frame itself is valid UTF-8 (the WebSocket layer checked): a surrogate can
    # only come from a \u escape.
    if "\\u" in payload and has_lone_surrogate(value):
        raise InvalidText(_NOT_TEXT)
    return value


def _client_id(obj: dict[str, Any]) -> Any:
    cid = obj.get("id")
    if cid is None or isinstance(cid, str | int) and not isinstance(cid, bool):
        return cid
    raise BadField("'id' must be a string or an integer")


def parse_envelope(payload: str | bytes, fmt: WireFormat) -> tuple[Any, dict[str, Any], Any]:
    """Decode one client frame: (its op, the whole object, its client id), or raise a
    ``FrameError``. Which ops exist and how their fields read is ops.py's ``parse_frame``."""
    obj = _decode(payload, fmt)
    if not isinstance(obj, dict):
        raise NotAnObject('frame must be an object like {"op": ..., "id": ...}')
    cid = _client_id(obj)
    return obj.get("op"), obj, cid


# --- server frames -----------------------------------------------------------------------


def ack(client_id: Any) -> dict[str, Any]:
    return {"type": "ack", "id": client_id}


def error(client_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": client_id, "code": code, "message": message}


def not_admitted(code: str, message: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a socket the gate refused is told before it closes (e.g. a show's public info)."""
    return {"type": "not_admitted", "code": code, "message": message, "data": data}


def snapshot(
    seq: int, epoch: str, data: dict[str, Any], recovered: bool | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "snapshot", "seq": seq, "epoch": epoch}
    if recovered is not None:
        frame["recovered"] = recovered
    frame["data"] = data
    return frame


def encode(frame: dict[str, Any], fmt: WireFormat) -> str | bytes:
    """Encode a one-off server frame (ack, error, snapshot); events cache their own."""
    return dumps_json(frame) if fmt is WireFormat.JSON else dumps_msgpack(frame)


def scrubbed(data: dict[str, Any], fmt: WireFormat) -> dict[str, Any]:
    """``data`` without what cannot be encoded (list items one by one, other values whole):
    a snapshot's last resort, so one bad value costs that value, not the join."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list):
            out[key] = [item for item in value if _encodes(item, fmt)]
        else:
            out[key] = value if _encodes(value, fmt) else None
    return out


def _encodes(value: Any, fmt: WireFormat) -> bool:
    try:
        encoded = encode(value, fmt)
        if isinstance(encoded, str):
            encoded.encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError):
        return False
    return True
