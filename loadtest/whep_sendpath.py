"""CPU of the WHEP room sender's send path per viewer-second: ``python -m loadtest.whep_sendpath``.

What the room's loop does for each viewer of a 2.5 Mbit/s 720p30 H.264 + Opus stream, without
aiortc's peers around it: for ``--seconds`` of media (30 x264 units and 50 Opus packets a
second, the units made by ffmpeg with the benchmark publisher's settings and packetized as
the room packetizes them) and ``--viewers`` viewers sharing each unit, the RTP headers, SRTP
(pylibsrtp, AEAD_AES_256_GCM as aiortc peers negotiate) and the sends to a real loopback
socket (its receive buffer overflows: the kernel drops what nobody reads). It prints the
process's user and system CPU per viewer-second, in milliseconds (millicores per viewer),
for each of ``--rounds`` rounds.

ICE, DTLS, RTCP and the hub's readers are left out: this is the part of a viewer's cost that
grows with its packets, measured with less noise than ``loadtest.webrtc_vs_janus`` can on a
shared box. Run it from an older checkout's directory (``python -c "import runpy;
runpy.run_path('PATH/loadtest/whep_sendpath.py', run_name='__main__')"``) to measure that
checkout's send path: before the room's packet images it packetizes, protects with
``Session.protect`` and sends with ``GsoSender.send``.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import socket
import subprocess
import tempfile
from typing import Any

import av
from aiortc.codecs.h264 import H264Encoder
from pylibsrtp import Policy, Session

from media.webrtc import payloads as room_payloads
from media.webrtc.fanout import RoomSender
from media.webrtc.gso import GsoSender
from media.webrtc.rtpout import Extensions, RtpOut

IMAGES = hasattr(RoomSender, "seal")  # this checkout sends from the room's unit images


def video_units(count: int) -> list[list[bytes]]:
    """``count`` delta units of the benchmark publisher's H.264, as the room packetizes them."""
    with tempfile.TemporaryDirectory() as folder:
        clip = os.path.join(folder, "clip.h264")
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
             "-frames:v", str(count + 1), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", "600", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k", "-pix_fmt", "yuv420p",
             "-f", "h264", clip], check=True)  # fmt: skip
        packer = H264Encoder()
        units = []
        with av.open(clip) as container:
            for packet in container.demux(video=0):
                if packet.size:
                    packet.pts = 0
                    packet.time_base = fractions.Fraction(1, 90_000)
                    units.append(_room_payloads(packer.pack(packet)[0]))
    return units[1:count + 1]  # the first is the keyframe


def _room_payloads(payloads: list[bytes]) -> list[bytes]:
    even = getattr(room_payloads, "even_fragments", None)
    return even(payloads) if even is not None else payloads


class Viewer:
    def __init__(self, index: int, transport: asyncio.DatagramTransport, key: bytes) -> None:
        self.session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                      srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM))
        self.video = RtpOut(ssrc=2 * index + 1, payload_type=102, sequence_number=1, timestamp_origin=0,
                            mid="0", extensions=Extensions(1, 3))
        self.audio = RtpOut(ssrc=2 * index + 2, payload_type=111, sequence_number=1, timestamp_origin=0,
                            mid="1", extensions=Extensions(1, 3))
        self.video_out = GsoSender(transport)
        self.audio_out = GsoSender(transport)
        self.sealer: Any = None
        if IMAGES:
            from media.webrtc.srtp import Sealer

            self.sealer = Sealer(self.session)


def send(room: Any, viewer: Viewer, stream: RtpOut, out: GsoSender, payloads: list[bytes], timestamp: int,
         ntp_time: int, address: tuple[str, int]) -> None:
    """What ``ViewerStream.send`` does once the viewer's route and session are known."""
    if not IMAGES:
        out.send([viewer.session.protect(p) for p in stream.packets(payloads, timestamp, ntp_time)], address)
        return
    out.send_plan(room.buffer.view, room.seal(stream, viewer.sealer, payloads, timestamp, ntp_time), address)


async def measure(viewers: int, seconds: int, rounds: int) -> list[tuple[float, float]]:
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    address = sink.getsockname()
    key = os.urandom(44)
    transports = []
    for _ in range(viewers):
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        transports.append(transport)
    peers = [Viewer(i, t, key) for i, t in enumerate(transports)]
    room: Any = None
    if IMAGES:
        room = RoomSender()
    units = video_units(30)
    opus = [os.urandom(160) for _ in range(50)]
    second = sorted([(k * 1000 // 30, 0, k) for k in range(30)] + [(k * 20, 1, k) for k in range(50)])
    results = []
    try:
        for _ in range(rounds):
            before = os.times()
            ntp_time = 1 << 40
            for s in range(seconds):
                for _, audio, k in second:
                    ntp_time += 1 << 24
                    if room is not None:
                        room._images.clear()  # a pass of the room's loop
                    for peer in peers:
                        if audio:
                            send(room, peer, peer.audio, peer.audio_out, [opus[k]], (s * 50 + k) * 960, ntp_time, address)
                        else:
                            send(room, peer, peer.video, peer.video_out, units[k], (s * 30 + k) * 3000, ntp_time,
                                 address)
            after = os.times()
            scale = 1000 / (viewers * seconds)
            results.append(((after.user - before.user) * scale, (after.system - before.system) * scale))
    finally:
        for peer in peers:
            peer.video_out.close()
        for transport in transports:
            transport.close()
        sink.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=10, help="media seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(measure(args.viewers, args.seconds, args.rounds))
    path = "room images" if IMAGES else "packets + Session.protect"
    cells = ", ".join(f"{user:.2f} + {system:.2f}" for user, system in results)
    print(f"{path}: millicores per viewer (user + system) per round: {cells}")


if __name__ == "__main__":
    main()
