"""The publishing side of an RTMP client connection, Sans-I/O.

Built on :mod:`media.rtmp`'s handshake, chunk and command layers; this module adds only
the client's command flow (until ``media/rtmp/client.py`` offers one, then this becomes a
thin adapter over it). ``start()`` gives C0+C1; feed server bytes with
``receive_data`` and get events; write ``data_to_send()`` after every call.

State machine (``TRANSITIONS``; anything else raises ``PublishFailed``):

==============  =========================================  ==============  ===================
state           input                                      next            what we send
==============  =========================================  ==============  ===================
HANDSHAKE       S0+S1+S2                                   CONNECTING      C2, SetChunkSize,
                                                                           connect
CONNECTING      connect ``_result``                        CREATING        releaseStream,
                                                                           FCPublish,
                                                                           createStream
CREATING        createStream ``_result`` (stream id)       PUBLISHING      publish(key, live)
PUBLISHING      onStatus NetStream.Publish.Start           LIVE            (event Accepted)
LIVE            ``send_tag``                               LIVE            audio/video/data
any             ``_error`` or an error onStatus            CLOSED          (event Refused)
==============  =========================================  ==============  ===================

The stream key is the publish name: it is sent to the server and never put in an event or
an error message (a server's description that echoes it gets it masked).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from media.rtmp.chunk import Message
from media.rtmp.commands import COMMAND_TYPES, Command
from media.rtmp.connection import (
    AUDIO_CHUNK_STREAM,
    COMMAND_CHUNK_STREAM,
    DATA_CHUNK_STREAM,
    VIDEO_CHUNK_STREAM,
    ChunkConnection,
)
from media.rtmp.control import SetChunkSize
from media.rtmp.errors import RtmpError
from media.rtmp.handshake import ClientHandshake
from media.rtmp.limits import MSG_AUDIO, MSG_VIDEO
from relay.errors import PublishFailed
from relay.keybox import mask
from relay.presets import Endpoint
from relay.remux import Tag

OUT_CHUNK_SIZE = 4096
FLASH_VER = "FMLE/3.0 (compatible; notalabel-relay)"
CHUNK_STREAMS = {MSG_AUDIO: AUDIO_CHUNK_STREAM, MSG_VIDEO: VIDEO_CHUNK_STREAM}


class State(enum.Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    CREATING = "creating"
    PUBLISHING = "publishing"
    LIVE = "live"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Accepted:
    """The server answered ``NetStream.Publish.Start``: media may flow."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The server said no: its status code and description (the key masked)."""

    code: str
    description: str


Event = Accepted | Refused

# transaction ids of our requests
_CONNECT, _RELEASE, _FCPUBLISH, _CREATE, _PUBLISH = 1.0, 2.0, 3.0, 4.0, 0.0


class PublishSession(ChunkConnection):
    """One client connection that publishes one stream (see the module docstring)."""

    def __init__(self, endpoint: Endpoint, key: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._key = key
        self.state = State.HANDSHAKE
        self.stream_id = 0
        self._handshake = ClientHandshake()
        self.media_bytes = 0

    def __repr__(self) -> str:
        return f"PublishSession({self.endpoint.tc_url!r}, key={mask(self._key)!r}, {self.state.value})"

    def start(self) -> bytes:
        return self._handshake.start()

    def receive_data(self, data: bytes) -> list[Event]:
        try:
            if self.state is State.HANDSHAKE:
                return self._handshake_data(data)
            return self._receive_chunks(data)
        except RtmpError as err:
            raise PublishFailed(f"protocol error from the ingest server: {type(err).__name__}") from None

    def _handshake_data(self, data: bytes) -> list[Event]:
        c2 = self._handshake.feed(data)
        if not c2:
            return []
        self._send_raw(c2)
        self.send_control(SetChunkSize(OUT_CHUNK_SIZE))
        self.send_command(Command("connect", _CONNECT, {
            "app": self.endpoint.app, "type": "nonprivate", "flashVer": FLASH_VER,
            "tcUrl": self.endpoint.tc_url,
        }))
        self.state = State.CONNECTING
        rest = self._handshake.remainder
        return self._receive_chunks(rest) if rest else []

    # -- server messages ---------------------------------------------------------------

    def _on_message(self, message: Message) -> list[Any]:
        if message.type_id not in COMMAND_TYPES:
            return []  # server data messages (|RtmpSampleAccess, onBWDone...) mean nothing here
        command = Command.parse(message.type_id, message.payload)
        if command.name == "_error":
            return self._refused(_info(command), "NetConnection.Connect.Rejected")
        if command.name == "_result":
            return self._on_result(command)
        if command.name == "onStatus":
            return self._on_status(_info(command))
        return []  # onBWDone, onFCPublish and friends

    def _on_result(self, command: Command) -> list[Event]:
        if command.transaction_id == _CONNECT and self.state is State.CONNECTING:
            self.send_command(Command("releaseStream", _RELEASE, None, (self._key,)))
            self.send_command(Command("FCPublish", _FCPUBLISH, None, (self._key,)))
            self.send_command(Command("createStream", _CREATE, None))
            self.state = State.CREATING
        elif command.transaction_id == _CREATE and self.state is State.CREATING:
            stream_id = command.argument(0)
            if not isinstance(stream_id, float):
                raise PublishFailed("createStream answered without a stream id")
            self.stream_id = int(stream_id)
            self.send_message(Message(DATA_CHUNK_STREAM, 20, self.stream_id, 0,
                                      Command("publish", _PUBLISH, None, (self._key, "live")).serialize()))
            self.state = State.PUBLISHING
        return []

    def _on_status(self, info: dict[str, Any]) -> list[Event]:
        code = str(info.get("code", ""))
        if str(info.get("level", "")) == "error" or code.endswith((".BadName", ".Failed", ".Rejected")):
            return self._refused(info, "NetStream.Publish.Failed")
        if code == "NetStream.Publish.Start" and self.state is State.PUBLISHING:
            self.state = State.LIVE
            return [Accepted()]
        return []

    def _refused(self, info: dict[str, Any], default_code: str) -> list[Event]:
        self.state = State.CLOSED
        code = str(info.get("code") or default_code)
        description = str(info.get("description") or "").replace(self._key, mask(self._key))
        return [Refused(code, description[:300])]

    # -- our media -----------------------------------------------------------------------

    def send_tag(self, tag: Tag) -> None:
        if self.state is not State.LIVE:
            raise PublishFailed(f"cannot send media while {self.state.value}")
        csid = CHUNK_STREAMS.get(tag.type_id, DATA_CHUNK_STREAM)
        self.send_message(Message(csid, tag.type_id, self.stream_id, tag.timestamp, tag.body))
        self.media_bytes += len(tag.body)

    def unpublish(self) -> None:
        """Say goodbye politely (FCUnpublish, deleteStream); the I/O layer then closes."""
        if self.state is State.LIVE:
            self.send_command(Command("FCUnpublish", 5.0, None, (self._key,)))
            self.send_message(Message(COMMAND_CHUNK_STREAM, 20, 0, 0,
                                      Command("deleteStream", 6.0, None, (float(self.stream_id),)).serialize()))
        self.state = State.CLOSED


def _info(command: Command) -> dict[str, Any]:
    for value in (*command.arguments, command.command_object):
        if isinstance(value, dict):
            return value
    return {}
