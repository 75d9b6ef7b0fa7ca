"""Resource limits that keep a hostile peer from growing our memory.

RTMP lets a peer announce chunks of up to 2**31-1 bytes and messages of up to
16 MiB - 1; we cap both far lower.  Every violation raises a named
``ProtocolError`` (see ``errors.py``) before any byte of the oversized thing is
buffered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# RTMP message type ids (spec section 5.4 and 7.1).
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACKNOWLEDGEMENT = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF3 = 15
MSG_SHARED_OBJECT_AMF3 = 16
MSG_COMMAND_AMF3 = 17
MSG_DATA_AMF0 = 18
MSG_SHARED_OBJECT_AMF0 = 19
MSG_COMMAND_AMF0 = 20
MSG_AGGREGATE = 22

KIB = 1024
MIB = 1024 * KIB


def _default_message_limits() -> dict[int, int]:
    control = {t: 16 for t in range(1, 7)}
    media = {MSG_VIDEO: 8 * MIB, MSG_AUDIO: 1 * MIB, MSG_AGGREGATE: 8 * MIB}
    return control | media


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied by the chunk decoder.

    max_chunk_size: largest Set Chunk Size we accept (64 KiB; OBS and ffmpeg use 4096).
    max_message_length: per message type id; types not listed use ``default_message_length``
        (64 KiB, ample for commands and onMetaData).
    max_chunk_streams: distinct chunk stream ids a peer may use (OBS and ffmpeg use under 10).
    max_inflight_bytes: bytes of partial messages buffered across all chunk streams.
    """

    max_chunk_size: int = 64 * KIB
    default_message_length: int = 64 * KIB
    max_message_length: dict[int, int] = field(default_factory=_default_message_limits)
    max_chunk_streams: int = 32
    max_inflight_bytes: int = 16 * MIB

    def message_limit(self, type_id: int) -> int:
        return self.max_message_length.get(type_id, self.default_message_length)


DEFAULT_LIMITS = Limits()
