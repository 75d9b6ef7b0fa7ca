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

``parse_frame`` turns one frame into a typed command (frozen dataclasses below) or raises a
``FrameError`` (errors.py) naming what was wrong; nothing here does I/O.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from rooms.errors import (
    BadField,
    InvalidJSON,
    InvalidMsgpack,
    InvalidText,
    NotAnObject,
    UnknownOp,
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


# --- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatSend:
    text: str


@dataclass(frozen=True)
class ChatDelete:
    message_id: str


@dataclass(frozen=True)
class ChatPin:
    message_id: str | None
    """``None`` unpins."""


@dataclass(frozen=True)
class ModTimeout:
    user: str
    seconds: int


@dataclass(frozen=True)
class ModBan:
    user: str


@dataclass(frozen=True)
class ModUnban:
    user: str


@dataclass(frozen=True)
class RoomSettingsOp:
    """A partial update: ``None`` keeps the current value."""

    slow_mode_s: int | None = None
    chat: str | None = None
    blocked_terms: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SongRequest:
    song_id: int


@dataclass(frozen=True)
class SongVote:
    request_id: str


@dataclass(frozen=True)
class SongPlay:
    request_id: str


@dataclass(frozen=True)
class SongSkip:
    request_id: str


@dataclass(frozen=True)
class SongDone:
    request_id: str


@dataclass(frozen=True)
class TipHide:
    """Hide a tip's message for everyone (``tip_id``, since ``id`` is the frame's own)."""

    tip_id: str


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

MOD_USER_OPS = (ModTimeout, ModBan, ModUnban)


@dataclass(frozen=True)
class ClientFrame:
    op: str
    id: Any
    command: Command


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


def _settings(f: dict[str, Any], cid: Any) -> RoomSettingsOp:
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
    return RoomSettingsOp(slow, chat, terms)


def _pin(f: dict[str, Any], cid: Any) -> ChatPin:
    if f.get("message_id") is None:
        return ChatPin(None)
    return ChatPin(_id(f, "message_id", cid))


_PARSERS: dict[str, Callable[[dict[str, Any], Any], Command]] = {
    "chat.send": lambda f, c: ChatSend(_str(f, "text", c)),
    "chat.delete": lambda f, c: ChatDelete(_id(f, "message_id", c)),
    "chat.pin": _pin,
    "mod.timeout": lambda f, c: ModTimeout(_str(f, "user", c, max_len=64), _int(f, "seconds", c)),
    "mod.ban": lambda f, c: ModBan(_str(f, "user", c, max_len=64)),
    "mod.unban": lambda f, c: ModUnban(_str(f, "user", c, max_len=64)),
    "room.settings": _settings,
    "song.request": lambda f, c: SongRequest(_int(f, "song_id", c)),
    "song.vote": lambda f, c: SongVote(_id(f, "request_id", c)),
    "song.play": lambda f, c: SongPlay(_id(f, "request_id", c)),
    "song.skip": lambda f, c: SongSkip(_id(f, "request_id", c)),
    "song.done": lambda f, c: SongDone(_id(f, "request_id", c)),
    "tip.hide": lambda f, c: TipHide(_id(f, "tip_id", c)),
}

OPS = frozenset(_PARSERS)


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


def parse_frame(payload: str | bytes, fmt: WireFormat) -> ClientFrame:
    """Parse one client frame; raise a ``FrameError`` saying what is wrong with it."""
    obj = _decode(payload, fmt)
    if not isinstance(obj, dict):
        raise NotAnObject('frame must be an object like {"op": ..., "id": ...}')
    cid = _client_id(obj)
    op = obj.get("op")
    parser = _PARSERS.get(op) if isinstance(op, str) else None
    if parser is None:
        raise UnknownOp(f"unknown op {op!r}; known: {', '.join(sorted(OPS))}", cid)
    return ClientFrame(op, cid, parser(obj, cid))  # type: ignore[arg-type]


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
