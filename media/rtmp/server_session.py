"""The server side of a publishing RTMP connection, Sans-I/O.

Feed bytes with ``receive_data``; get events; write ``data_to_send()``.

State machine (``TRANSITIONS`` is the whole of it; anything else is illegal):

=================  ==============================  =================  =====================
state              input                           next               what we send
=================  ==============================  =================  =====================
HANDSHAKE          C0+C1, C2 (handshake.py)        AWAIT_CONNECT      S0+S1+S2
AWAIT_CONNECT      connect                         CONNECTED          WindowAck, PeerBW,
                                                                      ChunkSize, _result
CONNECTED          releaseStream, FCPublish        CONNECTED          nothing
CONNECTED          createStream                    CONNECTED          _result(stream id)
CONNECTED          publish                         PUBLISH_PENDING    (the app decides)
PUBLISH_PENDING    accept_publish() (app)          PUBLISHING         StreamBegin, onStatus
                                                                      Publish.Start
PUBLISH_PENDING    reject_publish() (app)          CLOSED             onStatus error
PUBLISHING         @setDataFrame, audio, video     PUBLISHING         nothing
PUBLISHING         FCUnpublish, deleteStream,      CONNECTED          onStatus
                   closeStream                                        Unpublish.Success
CONNECTED          FCUnpublish, deleteStream,      CONNECTED          nothing
                   closeStream, audio, video
=================  ==============================  =================  =====================

While a publish waits for the application (PUBLISH_PENDING), further messages
are held, not processed (some clients pipeline ``@setDataFrame`` or even media
behind ``publish``); ``accept_publish()`` processes them and returns their
events, ``reject_publish()`` drops them.  Held bytes are capped by
``Limits.max_inflight_bytes``.

An illegal command from the peer is a ``CommandError``; an illegal call from the
application (accept when nothing is pending) is an ``InvalidStateError``.
Commands we do not know (``_checkbw``, ``getStreamLength``...) are ignored, as
are audio/video after unpublish (they race with FCUnpublish).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import flv
from .chunk import Message
from .commands import COMMAND_TYPES, DATA_TYPES, Command, DataMessage, status_info
from .connection import DEFAULT_WINDOW, ChunkConnection
from .control import (
    LimitType,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
)
from .errors import BufferLimitExceeded, CommandError, InvalidStateError
from .handshake import ServerHandshake, ServerState
from .limits import DEFAULT_LIMITS, MSG_AUDIO, MSG_VIDEO, Limits
from .units import AudioConfig, MediaUnit, Metadata, VideoConfig


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AWAIT_CONNECT = "await_connect"
    CONNECTED = "connected"
    PUBLISH_PENDING = "publish_pending"
    PUBLISHING = "publishing"
    CLOSED = "closed"


class Input(enum.Enum):
    HANDSHAKE_DONE = "handshake_done"
    CONNECT = "connect"
    PREPARE = "prepare"  # releaseStream, FCPublish
    CREATE_STREAM = "createStream"
    PUBLISH = "publish"
    ACCEPT = "accept"
    REJECT = "reject"
    DATA = "data"
    MEDIA = "media"
    UNPUBLISH = "unpublish"  # FCUnpublish, deleteStream, closeStream


S, In = State, Input
TRANSITIONS: dict[tuple[State, Input], State] = {
    (S.HANDSHAKE, In.HANDSHAKE_DONE): S.AWAIT_CONNECT,
    (S.AWAIT_CONNECT, In.CONNECT): S.CONNECTED,
    (S.CONNECTED, In.PREPARE): S.CONNECTED,
    (S.CONNECTED, In.CREATE_STREAM): S.CONNECTED,
    (S.CONNECTED, In.PUBLISH): S.PUBLISH_PENDING,
    (S.PUBLISH_PENDING, In.ACCEPT): S.PUBLISHING,
    (S.PUBLISH_PENDING, In.REJECT): S.CLOSED,
    (S.PUBLISHING, In.DATA): S.PUBLISHING,
    (S.PUBLISHING, In.MEDIA): S.PUBLISHING,
    (S.PUBLISHING, In.UNPUBLISH): S.CONNECTED,
    (S.CONNECTED, In.UNPUBLISH): S.CONNECTED,
    (S.CONNECTED, In.MEDIA): S.CONNECTED,
    (S.CONNECTED, In.DATA): S.CONNECTED,
}
_APP_INPUTS = (Input.ACCEPT, Input.REJECT)

COMMAND_INPUTS = {
    "connect": Input.CONNECT,
    "releaseStream": Input.PREPARE,
    "FCPublish": Input.PREPARE,
    "createStream": Input.CREATE_STREAM,
    "publish": Input.PUBLISH,
    "FCUnpublish": Input.UNPUBLISH,
    "deleteStream": Input.UNPUBLISH,
    "closeStream": Input.UNPUBLISH,
}


@dataclass(frozen=True, slots=True)
class Connected:
    app: str
    tc_url: str
    flash_ver: str


@dataclass(frozen=True, slots=True)
class PublishRequested:
    app: str
    stream_key: str
    stream_id: int
    publish_type: str


@dataclass(frozen=True, slots=True)
class Unpublished:
    stream_key: str


ServerEvent = (
    Connected | PublishRequested | Unpublished | Metadata | VideoConfig | AudioConfig | MediaUnit
)


def _strip_query(value: str) -> str:
    return value.split("?", 1)[0].strip("/")


class ServerSession(ChunkConnection):
    """One inbound connection from a publisher (OBS, ffmpeg)."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        *,
        epoch_ms: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
        chunk_size: int = 4096,
    ) -> None:
        super().__init__(limits)
        self.state = State.HANDSHAKE
        self.handshake = ServerHandshake(epoch_ms, random_bytes)
        self.app = ""
        self.stream_key = ""
        self.publish_stream_id = 0
        self.skipped_media = 0
        self._chunk_size = chunk_size
        self._streams: set[int] = set()
        self._next_stream_id = 1
        self._nal_length_size = 4
        self._held: list[Message] = []
        self._held_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes of peer input held in memory."""
        return self.handshake.buffered + self.decoder.buffered

    def _advance(self, given: Input) -> None:
        nxt = TRANSITIONS.get((self.state, given))
        if nxt is None:
            if given in _APP_INPUTS:
                raise InvalidStateError(f"{given.value} not allowed in state {self.state.value}")
            raise CommandError(f"{given.value} not allowed in state {self.state.value}")
        self.state = nxt

    # -- input ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[ServerEvent]:
        if self.state is State.CLOSED:
            return []
        if self.state is State.HANDSHAKE:
            self._send_raw(self.handshake.feed(data))
            if self.handshake.state is not ServerState.DONE:
                return []
            self._advance(Input.HANDSHAKE_DONE)
            data = self.handshake.remainder
        return self._receive_chunks(data)

    def _on_message(self, message: Message) -> list[Any]:
        if self.state is State.CLOSED:
            return []
        if self.state is State.PUBLISH_PENDING:
            self._hold(message)
            return []
        if message.type_id in COMMAND_TYPES:
            return self._on_command(Command.parse(message.type_id, message.payload), message)
        if message.type_id in DATA_TYPES:
            return self._on_data(DataMessage.parse(message.type_id, message.payload))
        if message.type_id in (MSG_AUDIO, MSG_VIDEO):
            return self._on_media(message)
        return []

    def _hold(self, message: Message) -> None:
        self._held_bytes += len(message.payload)
        if self._held_bytes > self.decoder.limits.max_inflight_bytes:
            raise BufferLimitExceeded("too much data pipelined behind publish")
        self._held.append(message)

    def _on_command(self, command: Command, message: Message) -> list[Any]:
        given = COMMAND_INPUTS.get(command.name)
        if given is None:
            return []
        self._advance(given)
        handler = _COMMAND_HANDLERS[given]
        return handler(self, command, message)

    def _on_connect(self, command: Command, message: Message) -> list[Any]:
        obj = command.command_object if isinstance(command.command_object, dict) else {}
        self.app = _strip_query(str(obj.get("app", "")))
        self.send_control(WindowAckSize(DEFAULT_WINDOW))
        self.send_control(SetPeerBandwidth(DEFAULT_WINDOW, LimitType.DYNAMIC))
        self.send_control(SetChunkSize(self._chunk_size))
        props = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}
        info = status_info(
            "status", "NetConnection.Connect.Success", "Connection succeeded.", objectEncoding=0.0
        )
        self.send_command(Command("_result", command.transaction_id, props, (info,)))
        return [Connected(self.app, str(obj.get("tcUrl", "")), str(obj.get("flashVer", "")))]

    def _on_prepare(self, command: Command, message: Message) -> list[Any]:
        return []

    def _on_create_stream(self, command: Command, message: Message) -> list[Any]:
        if len(self._streams) >= 8:
            raise CommandError("more than 8 message streams")
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        self._streams.add(stream_id)
        self.send_command(Command("_result", command.transaction_id, None, (float(stream_id),)))
        return []

    def _on_publish(self, command: Command, message: Message) -> list[Any]:
        if message.stream_id not in self._streams:
            raise CommandError(f"publish on stream {message.stream_id} that was never created")
        name, kind = command.argument(0), command.argument(1)
        self.publish_stream_id = message.stream_id
        self.stream_key = _strip_query(name) if isinstance(name, str) else ""
        kind = kind if isinstance(kind, str) else "live"
        return [PublishRequested(self.app, self.stream_key, message.stream_id, kind)]

    def _on_unpublish(self, command: Command, message: Message) -> list[Any]:
        if self.publish_stream_id == 0:
            return []
        stream_id, self.publish_stream_id = self.publish_stream_id, 0
        self._send_status(stream_id, "status", "NetStream.Unpublish.Success", "Stopped publishing.")
        return [Unpublished(self.stream_key)]

    def _on_data(self, data: DataMessage) -> list[Any]:
        values = data.values
        if data.name == "@setDataFrame" and values and values[0] == "onMetaData":
            values = values[1:]
        elif data.name != "onMetaData":
            return []
        self._advance(Input.DATA)
        if self.state is not State.PUBLISHING or not values or not isinstance(values[0], dict):
            return []
        return [Metadata(dict(values[0]))]

    def _on_media(self, message: Message) -> list[Any]:
        self._advance(Input.MEDIA)
        if self.state is not State.PUBLISHING or message.stream_id != self.publish_stream_id:
            self.skipped_media += 1
            return []
        if message.type_id == MSG_VIDEO:
            event: Any = flv.parse_video(message.payload, message.timestamp, self._nal_length_size)
            if isinstance(event, VideoConfig):
                self._nal_length_size = event.nal_length_size
        else:
            event = flv.parse_audio(message.payload, message.timestamp)
        if event is None:
            self.skipped_media += 1
            return []
        return [event]

    # -- the application's answers ----------------------------------------------------

    def _send_status(self, stream_id: int, level: str, code: str, description: str) -> None:
        info = status_info(level, code, description, details=self.stream_key)
        self.send_command(Command("onStatus", 0.0, None, (info,)), stream_id)

    def accept_publish(self) -> list[ServerEvent]:
        """Answer the pending publish with NetStream.Publish.Start.

        Returns the events of messages that arrived while the publish was pending.
        """
        self._advance(Input.ACCEPT)
        sid = self.publish_stream_id
        self.send_control(UserControl(UserControlEvent.STREAM_BEGIN, sid))
        self._send_status(
            sid, "status", "NetStream.Publish.Start", f"{self.stream_key} is now published."
        )
        held, self._held, self._held_bytes = self._held, [], 0
        events: list[ServerEvent] = []
        for message in held:
            events += self._on_message(message)
        return events

    def reject_publish(
        self, code: str = "NetStream.Publish.BadName", description: str = "Invalid stream key."
    ) -> None:
        """Answer the pending publish with an error status; then close the connection."""
        self._advance(Input.REJECT)
        self._held, self._held_bytes = [], 0
        self._send_status(self.publish_stream_id, "error", code, description)


_Handler = Callable[[ServerSession, Command, Message], list[Any]]
_COMMAND_HANDLERS: dict[Input, _Handler] = {
    Input.CONNECT: ServerSession._on_connect,
    Input.PREPARE: ServerSession._on_prepare,
    Input.CREATE_STREAM: ServerSession._on_create_stream,
    Input.PUBLISH: ServerSession._on_publish,
    Input.UNPUBLISH: ServerSession._on_unpublish,
}
