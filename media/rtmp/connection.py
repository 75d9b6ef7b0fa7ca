"""What both sides of an RTMP connection share, after the handshake, Sans-I/O.

``ChunkConnection`` owns the chunk decoder and encoder, answers the protocol
control layer by itself (ping, acknowledgement window, peer bandwidth) and
hands every other message to ``_on_message``.  Output accumulates in a buffer
that the I/O layer drains with ``data_to_send()`` after every call.
"""

from __future__ import annotations

from typing import Any

from .chunk import ChunkDecoder, ChunkEncoder, Message
from .commands import Command, DataMessage
from .control import (
    Acknowledgement,
    ControlMessage,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAckSize,
    control_message,
    is_control,
    parse_control,
)
from .limits import DEFAULT_LIMITS, MSG_COMMAND_AMF0, MSG_DATA_AMF0, Limits

DEFAULT_WINDOW = 2_500_000
COMMAND_CHUNK_STREAM = 3
AUDIO_CHUNK_STREAM = 4
DATA_CHUNK_STREAM = 5
VIDEO_CHUNK_STREAM = 6


class ChunkConnection:
    """The chunk and control layers; subclasses add the command flow."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.decoder = ChunkDecoder(limits)
        self.encoder = ChunkEncoder()
        self.ack_window = DEFAULT_WINDOW  # we acknowledge after receiving this many bytes
        self.peer_acknowledged = 0
        self._last_ack = 0
        self._out = bytearray()

    # -- output -----------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer; empties the buffer."""
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def pending_output(self) -> int:
        return len(self._out)

    def _send_raw(self, data: bytes) -> None:
        self._out += data

    def send_message(self, message: Message) -> None:
        self._out += self.encoder.encode(message)

    def send_control(self, control: ControlMessage) -> None:
        self.send_message(control_message(control))

    def send_command(self, command: Command, stream_id: int = 0) -> None:
        csid = COMMAND_CHUNK_STREAM if stream_id == 0 else DATA_CHUNK_STREAM
        self.send_message(Message(csid, MSG_COMMAND_AMF0, stream_id, 0, command.serialize()))

    def send_data(self, data: DataMessage, stream_id: int, timestamp: int = 0) -> None:
        payload = data.serialize()
        self.send_message(Message(DATA_CHUNK_STREAM, MSG_DATA_AMF0, stream_id, timestamp, payload))

    # -- input ------------------------------------------------------------------

    def _receive_chunks(self, data: bytes) -> list[Any]:
        events: list[Any] = []
        for message in self.decoder.feed(data):
            if is_control(message.type_id):
                self._on_control(parse_control(message.type_id, message.payload))
            else:
                events += self._on_message(message)
        self._maybe_acknowledge()
        return events

    def _maybe_acknowledge(self) -> None:
        received = self.decoder.bytes_received
        if received - self._last_ack >= self.ack_window:
            self._last_ack = received
            self.send_control(Acknowledgement(received & 0xFFFFFFFF))

    def _on_control(self, control: ControlMessage) -> None:
        if isinstance(control, UserControl) and control.event is UserControlEvent.PING_REQUEST:
            self.send_control(UserControl(UserControlEvent.PING_RESPONSE, control.value))
        elif isinstance(control, WindowAckSize):
            self.ack_window = max(control.window, 1)
        elif isinstance(control, Acknowledgement):
            self.peer_acknowledged = control.sequence_number
        elif isinstance(control, SetPeerBandwidth):
            self._on_peer_bandwidth(control)

    def _on_peer_bandwidth(self, control: SetPeerBandwidth) -> None:
        """Spec 5.4.5: answer with our Window Acknowledgement Size if it differs."""

    def _on_message(self, message: Message) -> list[Any]:
        raise NotImplementedError
