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
every viewer (:mod:`media.webrtc.payloads`); a sender whose RTP loop is aiortc's own then writes
the RTP headers, keeps its history for NACKs and its RTCP counters, and does SRTP (a WHEP
sender's loop is the room's, below). :func:`on_keyframe_request` catches the
viewer's PLI/FIR, which aiortc would otherwise turn into a request to an encoder we do not have.

Sending from the room (:mod:`media.webrtc.fanout`): :func:`take_rtp_loop` puts our own
coroutine in the place of the sender's RTP loop (``RTCRtpSender._run_rtp``, started by
``send()`` once DTLS is up), handing it the send parameters aiortc negotiated; it marks the
loop started and exited as aiortc's own does (``stop()`` waits for both). The sender keeps
its RTCP loop: :func:`note_sent` gives it the counts and timestamps its Sender Reports carry,
and :func:`answer_nacks` the retransmission its NACK handling calls. :func:`srtp_session` is
the DTLS transport's outbound SRTP session.

This module is the one place that touches aiortc's non-public parts (STYLE.md, habit 14):
``_RTCRtpReceiver__decoder_queue``, ``RTCRtpSender._send_keyframe``,
``RTCRtpSender._next_encoded_frame``, ``RTCRtpReceiver._send_rtcp_pli`` (a PLI on demand),
``RTCRtpTransceiver._codecs`` (the negotiated codecs), ``RemoteStreamTrack._queue`` (skip
decoded frames a slow transcoder fell behind on), ``RTCIceGatherer._connection`` (the
aioice connection, see media.webrtc.ice) and ``_RTCRtpReceiver__remote_bitrate_estimator``
(dropped from receivers that will never receive, see :func:`drop_receive_estimator`);
for the room's sender ``RTCRtpSender._run_rtp`` (replaced per sender), ``send`` (wrapped per
sender), ``_retransmit`` (replaced per sender), ``_ssrc``, ``_rtx_ssrc``, the loop's
``__rtp_started``/``__rtp_exited`` events, the Sender Report's ``__packet_count``,
``__octet_count``, ``__rtp_timestamp`` and ``__ntp_timestamp`` (read by ``_run_rtcp``) and
``RTCDtlsTransport._tx_srtp``, and its ``_state`` (compared with ``State.CONNECTED`` once per
unit, where the public ``state`` makes a string each time). :func:`check_aiortc` fails loudly, naming the
attribute, when any of them changed; the server runs it at start-up and the tests run it.
"""

from __future__ import annotations

import inspect
import queue
from collections.abc import Callable, Coroutine
from typing import Any

import aiortc
from aiortc import RTCDtlsTransport, RTCIceGatherer, RTCRtpReceiver, RTCRtpSender, rtcdtlstransport
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

RtpLoop = Callable[[RTCRtpSendParameters], Coroutine[Any, Any, None]]
Retransmit = Callable[[int], Coroutine[Any, Any, None]]
FrameCallback = Callable[[RTCRtpCodecParameters, JitterFrame], bool]
EncodedSource = Callable[[RTCRtpCodecParameters], Coroutine[Any, Any, RTCEncodedFrame | None]]
_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
_SENDER = "_RTCRtpSender__"
_REPORT_ATTRS = ("packet_count", "octet_count", "rtp_timestamp", "ntp_timestamp")
_PACKET_COUNT, _OCTET_COUNT, _RTP_TIMESTAMP, _NTP_TIMESTAMP = (_SENDER + name for name in _REPORT_ATTRS)
DTLS_CONNECTED = getattr(getattr(rtcdtlstransport, "State", None), "CONNECTED", None)


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


class AiortcShapeChanged(RuntimeError):
    """aiortc no longer has an internal this module relies on (the message names it)."""


def _sets(cls: type, name: str) -> bool:
    """Whether ``cls.__init__`` assigns ``self.<name>`` (read from its code, no instance)."""
    init = vars(cls).get("__init__")
    return init is not None and name in init.__code__.co_names


def check_aiortc() -> None:
    """Raise ``AiortcShapeChanged`` if aiortc no longer has the internals used here."""
    problems = []
    if not callable(getattr(RTCRtpSender, "_send_keyframe", None)):
        problems.append("RTCRtpSender._send_keyframe")
    next_frame = getattr(RTCRtpSender, "_next_encoded_frame", None)
    if next_frame is None or list(inspect.signature(next_frame).parameters) != ["self", "codec"]:
        problems.append("RTCRtpSender._next_encoded_frame(self, codec)")
    if not callable(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)):
        problems.append("RTCRtpReceiver._send_rtcp_pli")
    for cls, name in (
        (RTCRtpReceiver, _QUEUE_ATTR),
        (RTCRtpReceiver, _ESTIMATOR_ATTR),
        (RTCRtpTransceiver, "_codecs"),
        (RemoteStreamTrack, "_queue"),
        (RTCIceGatherer, "_connection"),
    ):
        if not _sets(cls, name):
            problems.append(f"{cls.__name__}.{name}")
    problems += _sender_loop_problems()
    if problems:
        raise AiortcShapeChanged(
            f"aiortc {aiortc.__version__} changed shape, update media/webrtc/taps.py; missing: "
            + ", ".join(problems)
        )


def _params(cls: type, name: str) -> list[str] | None:
    method = getattr(cls, name, None)
    return list(inspect.signature(method).parameters) if callable(method) else None


def _uses(cls: type, method: str, names: tuple[str, ...]) -> bool:
    code = getattr(vars(cls).get(method), "__code__", None)
    return code is not None and all(name in code.co_names for name in names)


def _sender_loop_problems() -> list[str]:
    """What :func:`take_rtp_loop`, :func:`note_sent` and :func:`answer_nacks` need."""
    problems = []
    if _params(RTCRtpSender, "_run_rtp") != ["self", "codec"] or not _uses(RTCRtpSender, "send", ("_run_rtp",)):
        problems.append("RTCRtpSender.send starting self._run_rtp(codec)")
    if _params(RTCRtpSender, "_retransmit") != ["self", "sequence_number"] or not _uses(
            RTCRtpSender, "_handle_rtcp_packet", ("_retransmit",)):
        problems.append("RTCRtpSender._handle_rtcp_packet calling self._retransmit(sequence_number)")
    reports = tuple(_SENDER + name for name in _REPORT_ATTRS)
    if not _uses(RTCRtpSender, "_run_rtcp", reports):
        problems.append("RTCRtpSender._run_rtcp reading " + ", ".join(reports))
    for name in ("_ssrc", "_rtx_ssrc", _SENDER + "rtp_started", _SENDER + "rtp_exited", *reports):
        if not _sets(RTCRtpSender, name):
            problems.append(f"RTCRtpSender.{name}")
    for name in ("_tx_srtp", "_state"):
        if not _sets(RTCDtlsTransport, name):
            problems.append(f"RTCDtlsTransport.{name}")
    if getattr(getattr(rtcdtlstransport, "State", None), "CONNECTED", None) is None:
        problems.append("aiortc.rtcdtlstransport.State.CONNECTED")
    return problems


def take_rtp_loop(sender: RTCRtpSender, loop: RtpLoop) -> None:
    """Run ``loop(parameters)`` in place of ``sender``'s RTP loop (call before it starts).
    ``loop`` must call :func:`rtp_started` first and :func:`rtp_exited` when it ends, however
    it ends."""
    send = sender.send
    negotiated: list[RTCRtpSendParameters] = []

    async def send_with(parameters: RTCRtpSendParameters) -> None:
        negotiated.append(parameters)
        await send(parameters)

    def run_rtp(_codec: RTCRtpCodecParameters) -> Coroutine[Any, Any, None]:
        return loop(negotiated[-1])

    sender.send = send_with  # type: ignore[method-assign]
    sender._run_rtp = run_rtp  # type: ignore[method-assign,assignment]


def rtp_started(sender: RTCRtpSender) -> None:
    getattr(sender, _SENDER + "rtp_started").set()


def rtp_exited(sender: RTCRtpSender) -> None:
    getattr(sender, _SENDER + "rtp_exited").set()


def ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """``sender``'s SSRC and its RTX stream's."""
    return sender._ssrc, sender._rtx_ssrc


def frame_source(sender: RTCRtpSender) -> EncodedSource:
    """What ``sender`` takes frames from now (see :func:`send_encoded`)."""
    return sender._next_encoded_frame


def note_sent(sender: RTCRtpSender, packet_count: int, octet_count: int, rtp_timestamp: int,
              ntp_timestamp: int) -> None:
    """What ``sender``'s next Sender Report says (RFC 3550 section 6.4.1): totals so far, the
    RTP timestamp of the last packet and the NTP time it went out."""
    setattr(sender, _PACKET_COUNT, packet_count)
    setattr(sender, _OCTET_COUNT, octet_count)
    setattr(sender, _RTP_TIMESTAMP, rtp_timestamp)
    setattr(sender, _NTP_TIMESTAMP, ntp_timestamp)


class SenderReport:
    """:func:`note_sent` for one sender, once per unit: the four values written straight into
    the sender's attributes (its ``__dict__``), without a ``setattr`` call each."""

    __slots__ = ("_values",)

    def __init__(self, sender: RTCRtpSender) -> None:
        self._values = vars(sender)

    def note(self, packet_count: int, octet_count: int, rtp_timestamp: int, ntp_timestamp: int) -> None:
        values = self._values
        values[_PACKET_COUNT] = packet_count
        values[_OCTET_COUNT] = octet_count
        values[_RTP_TIMESTAMP] = rtp_timestamp
        values[_NTP_TIMESTAMP] = ntp_timestamp


def answer_nacks(sender: RTCRtpSender, retransmit: Retransmit) -> None:
    """Make ``sender`` answer each sequence number a NACK lists with ``retransmit(seq)``."""
    sender._retransmit = retransmit  # type: ignore[method-assign,assignment]


def dtls_connected(transport: RTCDtlsTransport) -> bool:
    """``transport.state == "connected"``, without the string aiortc makes of its state enum."""
    return transport._state is DTLS_CONNECTED


def srtp_session(transport: RTCDtlsTransport) -> Any:
    """The pylibsrtp ``Session`` that protects what ``transport`` sends (set once DTLS is up)."""
    return transport._tx_srtp


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Route the encoded frames of ``receiver`` to ``on_frame`` (call before it starts)."""
    setattr(receiver, _QUEUE_ATTR, FrameTap(on_frame))


def drop_receive_estimator(receiver: RTCRtpReceiver) -> None:
    """Drop the receive-side bitrate estimator of a receiver that will never receive.

    aiortc gives every video receiver one, even in a send-only (WHEP) transceiver, and it holds
    a 1000-bucket rate counter: 1,000 of a viewer session's ~1,450 objects, each one more for
    every full garbage collection to traverse on the event loop. The receiver skips the
    estimate when it has none (it only feeds it from incoming RTP)."""
    setattr(receiver, _ESTIMATOR_ATTR, None)


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


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs ``transceiver`` negotiated, preferred first (empty before negotiation)."""
    return list(transceiver._codecs)


def ice_connection(transport: RTCDtlsTransport) -> Any:
    """The aioice ``Connection`` under ``transport`` (see media.webrtc.ice)."""
    return transport.transport.iceGatherer._connection


def skip_to_newest(track: Any, frame: Any, backlog: int) -> Any | None:
    """``frame``, or the newest frame waiting in ``track`` (aiortc's ``RemoteStreamTrack``)
    when more than ``backlog`` wait, dropping the older ones; None if the track ended."""
    waiting = track._queue
    while waiting.qsize() > backlog:
        newer = waiting.get_nowait()
        if newer is None:
            return None
        frame = newer
    return frame
