"""One sender per room for its WHEP viewers' media: no task wakes per viewer per frame.

aiortc gives every sender an RTP loop of its own: a task that wakes for each frame, then
builds, protects and sends each packet through a few coroutines. With many viewers of one
room that is a wake-up per viewer per frame and a chain of awaits per packet, all for the same
payloads. :class:`RoomSender` is one task per room instead. It waits on all its viewers' hub
readers at once, video and audio (:meth:`media.reader.Reader.wake_with`); when the publisher
writes a unit it walks the viewers' streams and, for each, takes what its track has to send
(``poll_encoded`` of :class:`~media.webrtc.egress.VideoPacketTrack` and
:class:`~media.webrtc.egress.AudioPacketTrack`: the same keyframe, reconnect and overflow
rules as before), writes that viewer's headers over the room's shared payloads
(:class:`~media.webrtc.rtpout.RtpOut`) into the room's one :class:`~media.webrtc.srtp.PacketBuffer`,
protects them there with the viewer's SRTP session (:mod:`media.webrtc.srtp`: no copy in and
out per packet) and writes the unit's packets from it to the socket of the viewer's selected
ICE pair, in as few ``sendmsg`` calls as UDP segmentation offload allows
(:mod:`media.webrtc.gso`), with no await in between.

Each viewer's aiortc sender keeps the rest (:mod:`media.webrtc.taps`): its RTP loop is a
:class:`ViewerStream` that joins the room and waits; its RTCP loop sends Sender Reports from the
counts we give it, answers NACKs from our history (as RTX when negotiated), and passes PLI/FIR
to the source.

Slow and gone viewers: a UDP send never waits, so no viewer holds up the room. A viewer whose
DTLS transport closed or whose ICE pair went away leaves the room at its next unit, and its
sender's loop ends as aiortc's does on a ``ConnectionError``. If the room's loop itself falls
behind, each reader overflows and skips to a keyframe as before (:mod:`media.reader`).

A sender whose frame source someone replaced (``taps.send_encoded`` again) leaves the room and
pulls frames one at a time, as aiortc's own loop would, sending them on the same RTP stream; it
rejoins if its source is ours again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpSender, clock
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from media.webrtc import taps
from media.webrtc.egress import AudioPacketTrack, VideoPacketTrack
from media.webrtc.gso import GsoSender, Run, plan
from media.webrtc.ice import datagram_route, datagram_route_of, selected_pair
from media.webrtc.rtpout import Extensions, RtpOut, Rtx, UnitImage
from media.webrtc.srtp import MAX_TRAILER, PacketBuffer, Sealer

log = logging.getLogger(__name__)
RoomTrack = VideoPacketTrack | AudioPacketTrack

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MAX_IMAGES = 64  # unit images kept between two passes of the room's loop (a few units, each kind of viewer)


class RoomSender:
    """The sender of one room's WHEP viewers (each viewer's video and audio streams); see the
    module docstring."""

    def __init__(self) -> None:
        self._viewers: dict[ViewerStream, None] = {}
        self.buffer = PacketBuffer()
        """Where each viewer's packets are written, protected and sent from, one at a time."""
        self._images: dict[tuple[int, int, bytes, int], tuple[UnitImage, list[Run]]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._viewers)

    async def carry(self, viewer: ViewerStream) -> None:
        """Send ``viewer``'s stream until it leaves: returns when its frame source is no longer
        ours, raises what ended it (MediaStreamError, ConnectionError) otherwise."""
        viewer.done = asyncio.get_running_loop().create_future()
        self._viewers[viewer] = None
        viewer.track.reader.wake_with(self._wakeup)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            await viewer.done
        finally:
            self.leave(viewer)

    def leave(self, viewer: ViewerStream) -> None:
        if self._viewers.pop(viewer, 0) is None:
            viewer.track.reader.wake_with(None)
            self._wakeup.set()  # the loop ends when no viewer is left

    def image(self, payloads: list[bytes], block: bytes, gap: int) -> tuple[UnitImage, list[Run]]:
        """The unit's packets with blank headers for ``block`` and ``gap``, and their GSO sends,
        made once for all the viewers that send it in one pass of the room's loop (the block
        holds the send time, the same for all of them; a viewer's headers differ)."""
        key = (id(payloads[0]), len(payloads), block, gap)  # the entry holds payloads[0]: no id reuse
        entry = self._images.get(key)
        if entry is None or entry[0].payloads[0] is not payloads[0]:
            if len(self._images) >= MAX_IMAGES:
                self._images.clear()
            image = UnitImage(payloads, block, gap)
            entry = self._images[key] = (image, plan([length + gap for _, length in image.spans]))
        return entry

    def seal(self, stream: RtpOut, sealer: Sealer, payloads: list[bytes], timestamp: int, ntp_time: int) -> list[Run]:
        """One viewer's packets of a unit, written into :attr:`buffer` from the unit's
        :meth:`image` with ``stream``'s headers and protected there by ``sealer``; returns the
        GSO sends that take them from it."""
        if len(payloads) == 1:  # an Opus packet: written and protected as it is, no image
            return self._seal_one(stream, sealer, payloads, timestamp, ntp_time)
        gap = sealer.trailer
        image, sends = self.image(payloads, stream.block(ntp_time), gap)
        sent = stream.take_with(payloads, timestamp, image.block, image.octets)
        data = image.data
        size = len(data)
        buffer = self.buffer
        buffer.reserve(size)[:size] = data
        stream.write_headers(buffer.view, image.spans, sent)
        sizes = sealer.seal(buffer, image.spans)
        if sealer.trailer != gap:  # the session's first unit: its trailer was not known yet
            sends = plan(sizes)
        return sends

    def _seal_one(self, stream: RtpOut, sealer: Sealer, payloads: list[bytes], timestamp: int,
                  ntp_time: int) -> list[Run]:
        sent = stream.take_with(payloads, timestamp, stream.block(ntp_time), len(payloads[0]))
        buffer = self.buffer
        clear = stream.write_packet(buffer.reserve(12 + len(sent.block) + len(payloads[0]) + MAX_TRAILER), sent)
        size = sealer.seal_one(buffer, clear)
        return [(0, size, size, 1)]

    async def _run(self) -> None:
        try:
            while self._viewers:
                await self._wakeup.wait()
                self._wakeup.clear()
                self._images.clear()
                now = clock.current_ntp_time()
                for viewer in tuple(self._viewers):
                    if viewer.track.reader.ready:  # the others' tracks have nothing (one wake-up for all)
                        viewer.pump(now)
        finally:
            self._task = None


class ViewerStream:
    """One viewer's video or audio in its room: the RTP loop of its aiortc sender (see
    :func:`send_from_room`) and what the room's loop does for it."""

    def __init__(self, room: RoomSender, sender: RTCRtpSender, track: RoomTrack) -> None:
        self.room = room
        self.sender = sender
        self.track = track
        self.source = track.next_encoded
        self.done: asyncio.Future[None] | None = None
        self.stream: RtpOut | None = None
        self._gso: GsoSender | None = None
        self._sealer: Sealer | None = None
        self._transport: RTCDtlsTransport | None = None
        self._connection: Any = None
        self._pair: Any = None
        self._address: tuple[str, int] = ("", 0)
        self._report = taps.SenderReport(sender)

    @property
    def batched_sends(self) -> int:
        """The ``sendmsg`` calls that carried more than one packet (UDP GSO)."""
        return self._gso.calls if self._gso is not None else 0

    async def run(self, parameters: RTCRtpSendParameters) -> None:
        """The sender's RTP loop (started by aiortc once DTLS is up)."""
        taps.rtp_started(self.sender)
        try:
            self.stream = new_stream(self.sender, parameters)
            taps.answer_nacks(self.sender, self._retransmit)
            codec = parameters.codecs[0]
            while True:
                source = taps.frame_source(self.sender)
                if source is self.source:
                    await self.room.carry(self)
                    continue
                frame = await source(codec)
                if frame is not None:
                    self.send(frame.payloads, frame.timestamp, clock.current_ntp_time())
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass  # as aiortc's loop: the sender stops, the transport closed, the stream ended
        except Exception:
            log.exception("WHEP %s sender failed", self.track.kind)
        finally:
            self.room.leave(self)
            self.track.stop()
            if self._gso is not None:
                self._gso.close()
            taps.rtp_exited(self.sender)

    def pump(self, ntp_time: int) -> None:
        """Send every unit the viewer's track has ready (called by the room's loop)."""
        done = self.done
        if done is None or done.done():
            return
        try:
            if taps.frame_source(self.sender) is not self.source:
                done.set_result(None)
                return
            while (encoded := self.track.poll_encoded()) is not None:
                self.send(encoded[0], encoded[1], ntp_time)
        except Exception as exc:  # handed to run(), which ends the loop as aiortc's would
            done.set_exception(exc)
        if done.done():
            self.room.leave(self)

    def send(self, payloads: list[bytes], timestamp: int, ntp_time: int) -> None:
        """Packetize, protect and send one access unit; ConnectionError when the viewer's
        transport is gone."""
        stream = self.stream
        assert stream is not None
        transport = self.sender.transport
        if transport is not self._transport:
            self._transport = transport
            self._connection = taps.ice_connection(transport)
            self._pair = None
        pair = selected_pair(self._connection) if taps.dtls_connected(transport) else None
        if pair is not self._pair:
            self._route(pair)
        out = self._gso
        if out is None:
            raise ConnectionError("the viewer's transport is not connected")
        sealer = self._sealer
        session = taps.srtp_session(transport)
        if sealer is None or sealer.session is not session:
            sealer = self._sealer = Sealer(session)
        room = self.room
        sends = room.seal(stream, sealer, payloads, timestamp, ntp_time)
        try:
            out.send_plan(room.buffer.view, sends, self._address)
        except OSError as exc:
            raise ConnectionError(str(exc)) from exc
        self._report.note(stream.packet_count, stream.octet_count, stream.rtp_timestamp, ntp_time)

    def _route(self, pair: Any) -> None:
        """Send to ``pair`` (the ICE pair now selected; None: not connected) from now on."""
        self._pair = pair
        route = datagram_route_of(pair) if pair is not None else None
        out = self._gso
        if route is None:
            if out is not None:
                out.close()
            self._gso = None
            return
        sock, self._address = route
        if out is None or out.transport is not sock:
            if out is not None:
                out.close()
            self._gso = GsoSender(sock)

    async def _retransmit(self, sequence_number: int) -> None:
        """Answer a NACK for ``sequence_number`` (dropped silently when it is too old)."""
        packet = self.stream.retransmission(sequence_number) if self.stream is not None else None
        transport = self.sender.transport
        if packet is None or transport.state != "connected":
            return
        route = datagram_route(taps.ice_connection(transport))
        if route is not None:
            route[0].sendto(taps.srtp_session(transport).protect(packet), route[1])


def new_stream(sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> RtpOut:
    """The RTP stream ``sender`` negotiated: its SSRCs, payload types, mid and extensions."""
    codec = parameters.codecs[0]
    assert codec.payloadType is not None  # negotiated
    rtx = next((c.payloadType for c in parameters.codecs
                if is_rtx(c) and c.parameters.get("apt") == codec.payloadType), None)
    ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
    ssrc, rtx_ssrc = taps.ssrcs(sender)
    return RtpOut(
        ssrc=ssrc, payload_type=codec.payloadType,
        sequence_number=random.getrandbits(15),  # the lower half, as aiortc (SRTP rollover)
        timestamp_origin=random.getrandbits(32),
        mid=parameters.muxId,
        extensions=Extensions(ids.get(MID_URI, 0), ids.get(ABS_SEND_TIME_URI, 0)),
        rtx=Rtx(rtx, rtx_ssrc) if rtx is not None else None,
        rtx_sequence_number=random.getrandbits(15),
    )  # fmt: skip


def send_from_room(room: RoomSender, sender: RTCRtpSender, track: RoomTrack) -> ViewerStream:
    """Make ``room`` send ``track`` for ``sender`` (call before the sender starts)."""
    viewer = ViewerStream(room, sender, track)
    taps.send_encoded(sender, viewer.source)
    taps.take_rtp_loop(sender, viewer.run)
    return viewer
