"""The room's sender (media.webrtc.fanout) with real aiortc viewers on loopback: every frame
decodes, a packet the viewer lost is sent again (RTX) when it NACKs, the Sender Reports count
exactly what went out, and the viewers' REMB is dropped at the socket while their receiver
reports still arrive; and Chromium plays it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, rtp
from aiortc.codecs import is_rtx

from media.webrtc.egress import VideoPacketTrack
from media.webrtc.fanout import ViewerStream
from media.webrtc.taps import ice_connection, negotiated_codecs
from tests.media.webrtc.conftest import Site
from tests.media.webrtc.rtmp_ingest import ffmpeg_publish, stop
from tests.media.webrtc.support import Viewer, wait_for

NTP_EPOCH = 2_208_988_800  # 1900 to 1970, seconds


@dataclass
class Wire:
    """What one aiortc viewer's DTLS transport receives: video RTP (decrypted) tallied, RTX
    packets by the sequence number they repair, and the video Sender Reports, each with the
    tally at the moment it arrived. ``drop`` picks encrypted video packets to lose once,
    before SRTP (as the network would)."""

    video_pt: int
    rtx_pt: int | None
    drop: Callable[[int], bool] = lambda _seq: False
    packets: int = 0
    octets: int = 0
    last_timestamp: int | None = None
    ssrc: int | None = None
    dropped: set[int] = field(default_factory=set)
    repaired: list[int] = field(default_factory=list)
    reports: list[tuple[rtp.RtcpSenderInfo, int, int, int | None]] = field(default_factory=list)

    @classmethod
    def attach(cls, pc: RTCPeerConnection, **kwargs: Any) -> Wire:
        transceiver = pc.getTransceivers()[0]
        codecs = negotiated_codecs(transceiver)
        rtx = next((c.payloadType for c in codecs if is_rtx(c)), None)
        wire = cls(codecs[0].payloadType, rtx, **kwargs)
        dtls = transceiver.receiver.transport
        ice = dtls.transport
        recv, on_rtp, on_rtcp = ice._recv, dtls._handle_rtp_data, dtls._handle_rtcp_data

        async def lossy_recv() -> bytes:
            while True:
                data: bytes = await recv()
                if not wire._lose(data):
                    return data

        async def tally_rtp(data: bytes, arrival_time_ms: int) -> None:
            wire._rtp(data)
            await on_rtp(data, arrival_time_ms=arrival_time_ms)

        async def tally_rtcp(data: bytes) -> None:
            wire._rtcp(data)
            await on_rtcp(data)

        ice._recv = lossy_recv
        dtls._handle_rtp_data = tally_rtp
        dtls._handle_rtcp_data = tally_rtcp
        return wire

    def _lose(self, data: bytes) -> bool:
        if not (128 <= data[0] < 192) or data[1] & 0x7F != self.video_pt:
            return False  # not video RTP (DTLS, STUN, RTCP, RTX, audio)
        seq = int.from_bytes(data[2:4], "big")
        if seq in self.dropped or not self.drop(seq):
            return False
        self.dropped.add(seq)
        return True

    def _rtp(self, data: bytes) -> None:
        packet = rtp.RtpPacket.parse(data)
        if packet.payload_type == self.rtx_pt:
            self.repaired.append(int.from_bytes(packet.payload[:2], "big"))
        elif packet.payload_type == self.video_pt:
            self.ssrc = packet.ssrc
            self.packets += 1
            self.octets += len(packet.payload)
            self.last_timestamp = packet.timestamp

    def _rtcp(self, data: bytes) -> None:
        for packet in rtp.RtcpPacket.parse(data):
            if isinstance(packet, rtp.RtcpSrPacket) and packet.ssrc == self.ssrc:
                self.reports.append((packet.sender_info, self.packets, self.octets, self.last_timestamp))


async def _watch(site: Site, **wire: Any) -> tuple[Viewer, Wire, VideoPacketTrack]:
    viewer, status, body = await Viewer.watch(site.http, site.base, "room1", audio=False)
    assert status == 201, body
    session = site.webrtc.session("whep", "room1", viewer.location.rsplit("/", 1)[1])
    track = session.tracks[0]
    assert isinstance(track, VideoPacketTrack)
    return viewer, Wire.attach(viewer.pc, **wire), track


async def _live(site: Site, rtmp_server: str, seconds: int, size: str = "640x360") -> Any:
    proc = ffmpeg_publish(f"{rtmp_server}/room1", seconds, size=size)
    await wait_for(lambda: (s := site.hub.get("room1")) is not None and len(s.tracks) == 2, timeout=20)
    return proc


def _room_sender(site: Site, viewer: Viewer, track: VideoPacketTrack) -> ViewerStream:
    """The room's sender of ``track`` (it answers the sender's NACKs)."""
    session = site.webrtc.session("whep", "room1", viewer.location.rsplit("/", 1)[1])
    sender = next(s for s in session.pc.getSenders() if s.track is track)
    found = sender._retransmit.__self__  # type: ignore[attr-defined]
    assert isinstance(found, ViewerStream)
    return found


def _in_room(site: Site) -> int:
    return len(site.webrtc.room_sender("room1"))


async def _ended(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        await viewer.close()


async def test_every_frame_decodes_and_sender_reports_count_what_went_out(webrtc_site: Site, rtmp_server: str) -> None:
    """Two viewers of one room, both sent by the room's one loop: each decodes every unit its
    track sent (the last may wait in aiortc's jitter buffer for the next), and each Sender
    Report carries exactly the packets, payload octets and last RTP timestamp the viewer had
    received when it arrived (loopback, in order, nothing lost), at a wall-clock NTP time."""
    proc = await _live(webrtc_site, rtmp_server, 6)
    viewers: list[Viewer] = []
    try:
        watched = [await _watch(webrtc_site) for _ in range(2)]
        viewers = [v for v, _, _ in watched]
        await wait_for(lambda: _in_room(webrtc_site) == 2 and all(v.video_frames >= 10 for v in viewers), 20)
        await wait_for(lambda: all(len(w.reports) >= 3 for _, w, _ in watched), 20)
        senders = [_room_sender(webrtc_site, viewer, track) for viewer, _, track in watched]
        assert all(s.batched_sends > 0 for s in senders)  # UDP GSO on this kernel
        for _, wire, _ in watched:
            assert proc.poll() is None  # still publishing: the counts below are mid-stream
            for info, packets, octets, last_timestamp in wire.reports:
                assert (info.packet_count, info.octet_count, info.rtp_timestamp) == (packets, octets, last_timestamp)
                assert abs((info.ntp_timestamp >> 32) - NTP_EPOCH - time.time()) < 60
            assert wire.reports[-1][0].packet_count > wire.reports[0][0].packet_count > 0
        for stream in senders:  # the viewers' REMB stops at the socket, their reports go on
            protocols = ice_connection(stream.sender.transport)._protocols
            # aiortc's receiver sends its first REMB once its estimate settles: wait while it publishes
            await wait_for(lambda ps=protocols: sum(p.feedback_dropped for p in ps) > 0, 20)
            stats = await stream.sender.getStats()
            assert any(s.type == "remote-inbound-rtp" and s.packetsReceived > 0 for s in stats.values())
        assert proc.wait(timeout=30) == 0
        await wait_for(lambda: all(v.video_frames >= t.sent - 1 for v, _, t in watched), 20)
        for viewer, wire, track in watched:
            assert track.sent >= 60 and viewer.video_frames <= track.sent  # joined a second or two in
            assert wire.dropped == set() and wire.repaired == []
    finally:
        await _ended(viewers)
        stop(proc)


async def test_a_lost_packet_is_sent_again_when_the_viewer_nacks_it(webrtc_site: Site, rtmp_server: str) -> None:
    """The viewer loses one video packet in 10 (the first time each is seen), 20 in all, from
    the 30th on: aiortc
    NACKs each, the sender answers from its history as RTX, and every frame still decodes.
    (720p: frames of several packets. aiortc's jitter buffer lets out one frame per packet that
    comes in, so the frames held up behind a repair wait for later packets; with one-packet
    frames they would still be waiting when the stream ends.)"""
    proc = await _live(webrtc_site, rtmp_server, 8, size="1280x720")
    viewer = None
    try:
        losses, seen = [0], [0]

        def lose(seq: int) -> bool:
            seen[0] += 1  # not before the 30th: aiortc NACKs only what follows the first it got
            if seen[0] < 30 or seq % 10 != 3 or losses[0] >= 20:
                return False
            losses[0] += 1
            return True

        viewer, wire, track = await _watch(webrtc_site, drop=lose)
        assert wire.rtx_pt is not None  # aiortc offers RTX for H.264
        await wait_for(lambda: len(wire.dropped) >= 20, 30)
        _room_sender(webrtc_site, viewer, track)  # the room's sender answers
        await wait_for(lambda: wire.dropped <= set(wire.repaired), 10)
        assert proc.wait(timeout=30) == 0
        await wait_for(lambda: viewer is not None and viewer.video_frames >= track.sent - 1, 20)
        assert track.sent >= 60
    finally:
        await _ended([viewer] if viewer is not None else [])
        stop(proc)


OFFER_AND_PLAY = """async (url) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => pc.iceGatheringState === 'complete' ? done()
    : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && done()));
  const answer = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'},
                                   body: pc.localDescription.sdp});
  if (answer.status !== 201) return `${answer.status} ${await answer.text()}`;
  await pc.setRemoteDescription({type: 'answer', sdp: await answer.text()});
  return 'ok';
}"""
RTP_STATS = """async () => {
  const found = {};
  (await window.pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' || s.type === 'remote-outbound-rtp') found[`${s.kind} ${s.type}`] = s;
  });
  return found;
}"""


async def test_chromium_plays_what_the_room_sends(webrtc_site: Site, rtmp_server: str) -> None:
    """Headless Chromium as a WHEP viewer (its own offer: its header extension ids, RTX,
    transport-cc that we do not take): it decodes the video and receives the audio, loses
    nothing, and its view of our Sender Reports (remote-outbound-rtp) counts packets and bytes
    it has received."""
    from playwright.async_api import async_playwright

    from tests.media.webrtc.test_webrtc_pages import CHROMIUM_ARGS

    base = webrtc_site.base
    proc = await _live(webrtc_site, rtmp_server, 40)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=90_000)
            try:
                page = await browser.new_page()
                await page.route(f"{base}/blank", lambda route: route.fulfill(body="<html></html>", content_type="text/html"))
                await page.goto(f"{base}/blank")
                assert await page.evaluate(OFFER_AND_PLAY, f"{base}/whep/room1") == "ok"
                await wait_for(lambda: _in_room(webrtc_site) == 2, 20)  # its video and its audio
                stats: dict[str, Any] = {}
                for _ in range(300):  # a minute at most
                    stats = await page.evaluate(RTP_STATS)
                    inbound, report = stats.get("video inbound-rtp", {}), stats.get("video remote-outbound-rtp", {})
                    if inbound.get("framesDecoded", 0) >= 90 and report.get("reportsSent", 0) >= 3:
                        break
                    await page.wait_for_timeout(200)
                inbound, report = stats["video inbound-rtp"], stats["video remote-outbound-rtp"]
                assert inbound["framesDecoded"] >= 90 and inbound["keyFramesDecoded"] >= 1, stats
                assert inbound["packetsLost"] == 0 and inbound.get("nackCount", 0) == 0, stats
                assert (inbound["frameWidth"], inbound["frameHeight"]) == (640, 360)
                assert 0 < report["packetsSent"] <= inbound["packetsReceived"], stats
                assert 0 < report["bytesSent"] <= inbound["bytesReceived"], stats
                audio, report = stats["audio inbound-rtp"], stats["audio remote-outbound-rtp"]
                assert audio["packetsReceived"] >= 100 and audio["packetsLost"] == 0, stats  # 20 ms Opus
                assert 0 < report["packetsSent"] <= audio["packetsReceived"], stats
            finally:
                await browser.close()
    finally:
        stop(proc)
