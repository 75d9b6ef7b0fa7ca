"""Hooks into aiortc's media path that let encoded frames through without a codec.

Receiving: an ``RTCRtpReceiver`` depacketizes RTP, reassembles frames in its jitter buffer and
puts ``(codec, JitterFrame)`` on a queue that its decoder thread reads. :func:`tap_receiver`
swaps that queue, before the receiver starts, for a :class:`FrameTap` that hands each
encoded frame to us on the event loop. By default nothing reaches the decoder thread (it idles
until the receiver stops); a callback that returns True passes the frame on to be decoded
(used for VP8, which we transcode).

Sending: an ``RTCRtpSender`` asks ``_next_encoded_frame(codec)`` for each frame's RTP payloads
(by default it reads its track and encodes or packetizes what it gets). :func:`send_encoded`
points that at our own coroutine, which hands out payloads made once per room and shared by
every viewer (:mod:`media.webrtc.payloads`); the sender still writes the RTP headers, keeps its
history for NACKs, its RTCP counters, and does SRTP. :func:`on_keyframe_request` catches the
viewer's PLI/FIR, which aiortc would otherwise turn into a request to an encoder we do not have.

These rely on three non-public names of aiortc 1.x (``_RTCRtpReceiver__decoder_queue``,
``RTCRtpSender._send_keyframe`` and ``RTCRtpSender._next_encoded_frame``); :func:`check_aiortc`
fails loudly if they change.
"""

from __future__ import annotations

import inspect
import queue
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCEncodedFrame

FrameCallback = Callable[[RTCRtpCodecParameters, JitterFrame], bool]
EncodedSource = Callable[[RTCRtpCodecParameters], Coroutine[Any, Any, RTCEncodedFrame | None]]
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"


class FrameTap(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue; see the module docstring."""

    def __init__(self, on_frame: FrameCallback) -> None:
        super().__init__()
        self._on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops its decoder thread
            super().put(None, block, timeout)
            return
        codec, frame = item
        if self._on_frame(codec, frame):
            super().put(item, block, timeout)


def check_aiortc() -> None:
    """Raise RuntimeError if aiortc no longer has the internals the taps rely on."""
    if not hasattr(RTCRtpSender, "_send_keyframe"):
        raise RuntimeError("aiortc.RTCRtpSender has no _send_keyframe: update media.webrtc.taps")
    next_frame = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if next_frame is None or list(inspect.signature(next_frame).parameters) != ["self", "codec"]:
        raise RuntimeError("aiortc.RTCRtpSender._next_encoded_frame changed: update media.webrtc.taps")
    init_code = RTCRtpReceiver.__init__.__code__
    if "_RTCRtpReceiver__decoder_queue" not in init_code.co_names:
        raise RuntimeError("aiortc.RTCRtpReceiver has no decoder queue: update media.webrtc.taps")


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Route the encoded frames of ``receiver`` to ``on_frame`` (call before it starts)."""
    setattr(receiver, _QUEUE_ATTR, FrameTap(on_frame))


def send_encoded(sender: RTCRtpSender, source: EncodedSource) -> None:
    """Make ``sender`` take each frame's RTP payloads from ``source`` (call before it starts)."""
    sender._next_encoded_frame = source  # type: ignore[method-assign,assignment]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the remote peer sends PLI or FIR for ``sender``'s stream."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for every source ``receiver`` heard from lately; False if none yet."""
    sources = receiver.getSynchronizationSources()
    for source in sources:
        await receiver._send_rtcp_pli(source.source)
    return bool(sources)
