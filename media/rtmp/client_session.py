"""The publishing client side of RTMP, Sans-I/O (what the relay speaks to YouTube, Twitch...).

Call ``initiate()``, write ``data_to_send()``, feed server bytes to
``receive_data``, and once ``PublishStarted`` comes back, send metadata,
codec configs and units.

State machine (``TRANSITIONS``; anything else is illegal):

===============  ===============================  ===============  =======================
state            input                            next             what we send
===============  ===============================  ===============  =======================
START            initiate()                       HANDSHAKE        C0+C1
HANDSHAKE        S0+S1+S2                         CONNECTING       C2, Set Chunk Size,
                                                                   connect (tid 1)
CONNECTING       _result tid 1                    CREATING_STREAM  releaseStream,
                                                                   FCPublish, createStream
CREATING_STREAM  _result tid 4 (stream id)        PUBLISH_SENT     publish(key, "live")
PUBLISH_SENT     onStatus NetStream.Publish.Start PUBLISHING       nothing
CONNECTING..     _error, onStatus level=error     FAILED           nothing (``Refused``)
PUBLISHING       send_*()                         PUBLISHING       audio/video/data messages
PUBLISHING       unpublish()                      DONE             FCUnpublish, deleteStream
===============  ===============================  ===============  =======================

A refusal from the server is an event (``Refused``), not an exception, because
it is a normal answer; calling ``send_*`` outside PUBLISHING is an
``InvalidStateError``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import flv
from .amf0 import EcmaArray
from .chunk import Message
from .commands import COMMAND_TYPES, Command, DataMessage
from .connection import AUDIO_CHUNK_STREAM, VIDEO_CHUNK_STREAM, ChunkConnection
from .control import SetChunkSize, SetPeerBandwidth, WindowAckSize
from .errors import InvalidStateError
from .handshake import ClientHandshake
from .handshake import ClientState as HandshakeState
from .limits import DEFAULT_LIMITS, MSG_AUDIO, MSG_VIDEO, Limits
from .units import AudioConfig, MediaUnit, VideoConfig

TID_CONNECT, TID_RELEASE, TID_FCPUBLISH, TID_CREATE_STREAM, TID_PUBLISH = 1.0, 2.0, 3.0, 4.0, 5.0


class State(enum.Enum):
    START = "start"
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    CREATING_STREAM = "creating_stream"
    PUBLISH_SENT = "publish_sent"
    PUBLISHING = "publishing"
    FAILED = "failed"
    DONE = "done"


class Input(enum.Enum):
    INITIATE = "initiate"
    HANDSHAKE_DONE = "handshake_done"
    CONNECT_OK = "connect_ok"
    STREAM_CREATED = "stream_created"
    PUBLISH_OK = "publish_ok"
    REFUSED = "refused"
    SEND = "send"
    UNPUBLISH = "unpublish"


S, In = State, Input
TRANSITIONS: dict[tuple[State, Input], State] = {
    (S.START, In.INITIATE): S.HANDSHAKE,
    (S.HANDSHAKE, In.HANDSHAKE_DONE): S.CONNECTING,
    (S.CONNECTING, In.CONNECT_OK): S.CREATING_STREAM,
    (S.CREATING_STREAM, In.STREAM_CREATED): S.PUBLISH_SENT,
    (S.PUBLISH_SENT, In.PUBLISH_OK): S.PUBLISHING,
    (S.CONNECTING, In.REFUSED): S.FAILED,
    (S.CREATING_STREAM, In.REFUSED): S.FAILED,
    (S.PUBLISH_SENT, In.REFUSED): S.FAILED,
    (S.PUBLISHING, In.REFUSED): S.FAILED,
    (S.PUBLISHING, In.SEND): S.PUBLISHING,
    (S.PUBLISHING, In.UNPUBLISH): S.DONE,
}


@dataclass(frozen=True, slots=True)
class PublishStarted:
    stream_id: int


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    description: str


ClientEvent = PublishStarted | Refused


class ClientSession(ChunkConnection):
    """One outbound publish to ``tc_url`` (``rtmp://host:port/app``) with ``stream_key``."""

    def __init__(
        self,
        app: str,
        stream_key: str,
        tc_url: str,
        *,
        chunk_size: int = 4096,
        limits: Limits = DEFAULT_LIMITS,
        epoch_ms: int = 0,
        random_bytes: Callable[[int], bytes] = os.urandom,
        flash_ver: str = "FMLE/3.0 (compatible; notalabel)",
    ) -> None:
        super().__init__(limits)
        self.app, self.stream_key, self.tc_url = app, stream_key, tc_url
        self.flash_ver = flash_ver
        self.state = State.START
        self.stream_id = 0
        self.handshake = ClientHandshake(epoch_ms, random_bytes)
        self._chunk_size = chunk_size

    def _advance(self, given: Input) -> None:
        nxt = TRANSITIONS.get((self.state, given))
        if nxt is None:
            raise InvalidStateError(f"{given.value} not allowed in state {self.state.value}")
        self.state = nxt

    def _may(self, given: Input) -> bool:
        return (self.state, given) in TRANSITIONS

    def initiate(self) -> None:
        self._advance(Input.INITIATE)
        self._send_raw(self.handshake.start())

    def receive_data(self, data: bytes) -> list[ClientEvent]:
        if self.state in (State.START, State.FAILED, State.DONE):
            return []
        if self.state is State.HANDSHAKE:
            self._send_raw(self.handshake.feed(data))
            if self.handshake.state is not HandshakeState.DONE:
                return []
            self._advance(Input.HANDSHAKE_DONE)
            self._send_connect()
            data = self.handshake.remainder
        return self._receive_chunks(data)

    def _send_connect(self) -> None:
        self.send_control(SetChunkSize(self._chunk_size))
        obj = {
            "app": self.app,
            "type": "nonprivate",
            "flashVer": self.flash_ver,
            "tcUrl": self.tc_url,
        }
        self.send_command(Command("connect", TID_CONNECT, obj))

    def _on_peer_bandwidth(self, control: SetPeerBandwidth) -> None:
        self.send_control(WindowAckSize(control.window))

    def _on_message(self, message: Message) -> list[Any]:
        if message.type_id not in COMMAND_TYPES:
            return []
        command = Command.parse(message.type_id, message.payload)
        if command.name == "_result":
            return self._on_result(command)
        if command.name == "_error" and command.transaction_id in (
            TID_CONNECT,
            TID_CREATE_STREAM,
            TID_PUBLISH,
        ):
            return self._refused(command)
        if command.name == "onStatus":
            return self._on_status(command)
        return []

    def _info(self, command: Command) -> dict[str, Any]:
        info = command.argument(0)
        return info if isinstance(info, dict) else {}

    def _refused(self, command: Command) -> list[Any]:
        if not self._may(Input.REFUSED):
            return []
        self._advance(Input.REFUSED)
        info = self._info(command)
        code = str(info.get("code", command.name))
        return [Refused(code, str(info.get("description", "")))]

    def _on_result(self, command: Command) -> list[Any]:
        if command.transaction_id == TID_CONNECT and self._may(Input.CONNECT_OK):
            self._advance(Input.CONNECT_OK)
            for name, tid in (("releaseStream", TID_RELEASE), ("FCPublish", TID_FCPUBLISH)):
                self.send_command(Command(name, tid, None, (self.stream_key,)))
            self.send_command(Command("createStream", TID_CREATE_STREAM))
        elif command.transaction_id == TID_CREATE_STREAM and self._may(Input.STREAM_CREATED):
            stream_id = command.argument(0)
            self._advance(Input.STREAM_CREATED)
            self.stream_id = int(stream_id) if isinstance(stream_id, float) else 1
            publish = Command("publish", TID_PUBLISH, None, (self.stream_key, "live"))
            self.send_command(publish, self.stream_id)
        return []

    def _on_status(self, command: Command) -> list[Any]:
        info = self._info(command)
        if info.get("level") == "error":
            return self._refused(command)
        if info.get("code") == "NetStream.Publish.Start" and self._may(Input.PUBLISH_OK):
            self._advance(Input.PUBLISH_OK)
            return [PublishStarted(self.stream_id)]
        return []

    # -- sending media ------------------------------------------------------------------

    def _media(self, csid: int, type_id: int, timestamp: int, body: bytes) -> None:
        self._advance(Input.SEND)
        self.send_message(Message(csid, type_id, self.stream_id, timestamp & 0xFFFFFFFF, body))

    def send_metadata(self, values: Mapping[str, Any]) -> None:
        self._advance(Input.SEND)
        data = DataMessage("@setDataFrame", ("onMetaData", EcmaArray(values)))
        self.send_data(data, self.stream_id)

    def send_video_config(self, config: VideoConfig) -> None:
        self._media(VIDEO_CHUNK_STREAM, MSG_VIDEO, config.dts_ms, flv.build_video_config(config))

    def send_audio_config(self, config: AudioConfig) -> None:
        self._media(AUDIO_CHUNK_STREAM, MSG_AUDIO, config.dts_ms, flv.build_audio_config(config))

    def send_video(self, unit: MediaUnit) -> None:
        self._media(VIDEO_CHUNK_STREAM, MSG_VIDEO, unit.dts_ms, flv.build_video(unit))

    def send_audio(self, unit: MediaUnit) -> None:
        self._media(AUDIO_CHUNK_STREAM, MSG_AUDIO, unit.dts_ms, flv.build_audio(unit))

    def unpublish(self) -> None:
        """FCUnpublish + deleteStream; the connection may then be closed."""
        self._advance(Input.UNPUBLISH)
        self.send_command(Command("FCUnpublish", 6.0, None, (self.stream_key,)))
        self.send_command(Command("deleteStream", 7.0, None, (float(self.stream_id),)))
