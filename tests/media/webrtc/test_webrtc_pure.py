"""The Sans-I/O parts: Annex B <-> AVCC framing, the offer check, ICE settings and Link headers;
and the ICE policy on a real aiortc peer connection (port range, public address)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.errors import CodecConfigError
from media.h264 import AvcDecoderConfig, split_avcc
from media.webrtc.annexb import (
    AccessUnitAssembler,
    avcc_to_annexb,
    split_annexb,
    to_annexb,
    to_avcc,
)
from media.webrtc.config import IceServer, WebRtcSettings
from media.webrtc.errors import ConfigError, NoUsableCodec, OfferError
from media.webrtc.ice import apply_ice_policy, new_peer_connection
from media.webrtc.sdp import inspect_offer

# A real 320x240 constrained-baseline SPS and PPS (x264), an IDR slice head and a P slice head.
SPS = bytes.fromhex("6742c00dda0507ec0440000003004000000f23c50aa8")
PPS = bytes.fromhex("68ce0fc8")
IDR = bytes.fromhex("65888421")
P = bytes.fromhex("419a2180")
AUD = bytes.fromhex("09f0")


def test_split_annexb_handles_3_and_4_byte_start_codes_and_trailing_zeros() -> None:
    data = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x01" + PPS + b"\x00\x00\x00\x00\x01" + IDR
    assert split_annexb(data) == [SPS, PPS, IDR]
    assert split_annexb(b"") == [] and split_annexb(b"\x00\x00\x01") == []


def test_avcc_round_trip() -> None:
    avcc = to_avcc([IDR, P])
    assert avcc == b"\x00\x00\x00\x04" + IDR + b"\x00\x00\x00\x04" + P
    assert split_avcc(avcc) == [IDR, P]
    assert split_annexb(to_annexb([IDR, P])) == [IDR, P]


def test_keyframes_get_parameter_sets_in_front_for_viewers() -> None:
    config = AvcDecoderConfig.from_parameter_sets(SPS, PPS)
    assert split_annexb(avcc_to_annexb(to_avcc([IDR]), 4, config)) == [SPS, PPS, IDR]
    assert split_annexb(avcc_to_annexb(to_avcc([P]), 4, None)) == [P]


def test_assembler_waits_for_a_keyframe_then_announces_the_config_once() -> None:
    assembler = AccessUnitAssembler()
    assert assembler.feed(to_annexb([P])) is None and assembler.waiting_for_keyframe
    assert assembler.feed(to_annexb([SPS, PPS])) is None  # parameter sets alone: no unit
    first = assembler.feed(to_annexb([AUD, IDR]))
    assert first is not None and first.keyframe and first.config is not None
    assert split_avcc(first.payload) == [IDR]  # AUD and parameter sets are not in the payload
    assert AvcDecoderConfig.parse(first.config).sps == (SPS,)
    again = assembler.feed(to_annexb([SPS, PPS, IDR]))
    assert again is not None and again.config is None  # same parameter sets: nothing new
    delta = assembler.feed(to_annexb([P]))
    assert delta is not None and not delta.keyframe
    assert assembler.dropped == 2


@given(st.binary(max_size=300))
def test_assembler_never_raises_anything_but_codec_config_errors(data: bytes) -> None:
    assembler = AccessUnitAssembler()
    for prefix in (data, b"\x00\x00\x01" + data, to_annexb([SPS, PPS, IDR]) + data):
        try:
            assembler.feed(prefix)
        except CodecConfigError:
            pass


OFFER = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
m=audio 9 UDP/TLS/RTP/SAVPF 111
a=rtpmap:111 opus/48000/2
m=video 9 UDP/TLS/RTP/SAVPF 96 102
a=rtpmap:96 VP8/90000
a=rtpmap:102 H264/90000
"""


def test_inspect_offer_lists_codecs_and_prefers_h264() -> None:
    summary = inspect_offer(OFFER)
    assert summary.video == ("vp8", "h264") and summary.audio == ("opus",)
    assert summary.video_codec == "h264" and summary.has_audio
    assert inspect_offer(OFFER.replace("a=rtpmap:102 H264/90000\n", "")).video_codec == "vp8"


@pytest.mark.parametrize(("text", "error", "words"), [
    ("", OfferError, "v=0"),
    ("hello", OfferError, "v=0"),
    ("v=0\nthis line is junk\n", OfferError, "<type>=<value>"),
    ("v=0\ns=-\n", OfferError, "no audio or video"),
    ("v=0\nm=video 9\n", OfferError, "malformed media line"),
    ("v=0\nm=video 9 RTP/AVP 96\na=rtpmap:96 AV1/90000\n", NoUsableCodec, "AV1".lower()),
    ("v=0\n" + "a=x\n" * 20000, OfferError, "larger"),
])  # fmt: skip
def test_inspect_offer_rejects(text: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        inspect_offer(text)


def test_link_headers_of_rfc_9725() -> None:
    assert IceServer("stun:stun.example.net:3478").link() == '<stun:stun.example.net:3478>; rel="ice-server"'
    turn = IceServer.parse("turn:alice:s3cr\"et@turn.example.net:3478?transport=udp")
    assert turn.link() == ('<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="alice"; '
                           'credential="s3cr\\"et"; credential-type="password"')
    assert WebRtcSettings(ice_servers=(turn,)).link_headers() == [turn.link()]


@pytest.mark.parametrize("make", [
    lambda: IceServer("http://nope"),
    lambda: IceServer("turn:turn.example.net"),
    lambda: WebRtcSettings(udp_port_min=50000, udp_port_max=40000),
    lambda: WebRtcSettings(public_ip="not-an-ip"),
    lambda: WebRtcSettings(max_publishers=0),
    lambda: WebRtcSettings(max_viewers_per_room=0),
    lambda: WebRtcSettings(max_viewers_per_address=-1),
    lambda: WebRtcSettings(connect_timeout_s=0),
])  # fmt: skip
def test_bad_settings_raise_config_error(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


async def test_ice_policy_binds_in_the_port_range_and_announces_the_public_ip() -> None:
    settings = WebRtcSettings(host_addresses=("127.0.0.1",), udp_port_min=41000, udp_port_max=41099,
                              public_ip="203.0.113.7")
    pc = new_peer_connection(settings)
    try:
        pc.addTransceiver("video", direction="recvonly")
        apply_ice_policy(pc, settings)
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates, pc.localDescription.sdp
        for line in candidates:
            fields = line.split()
            assert fields[4] == "203.0.113.7" and 41000 <= int(fields[5]) <= 41099 and fields[7] == "host"
    finally:
        await pc.close()


# -- payloads made once per room (media.webrtc.payloads) -----------------------------------------

def _depacketize(payloads: list[bytes]) -> list[bytes]:
    from aiortc.codecs.h264 import H264PayloadDescriptor

    return split_annexb(b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads))


def test_payloads_are_made_once_per_unit_and_shared() -> None:
    from media.units import TrackKind, Unit
    from media.webrtc.payloads import H264Payloads

    config = AvcDecoderConfig.from_parameter_sets(SPS, PPS)
    record = config.serialize()
    big = bytes([0x65]) + bytes(range(256)) * 20  # an IDR slice of ~5 KB: several FU-A fragments
    key = Unit(1, TrackKind.VIDEO, 0, 0, True, to_avcc([big]))
    delta = Unit(1, TrackKind.VIDEO, 3000, 3000, False, to_avcc([P]))
    payloads = H264Payloads()
    first = payloads.get(key, 4, config, record)
    assert payloads.get(key, 4, config, record) is first  # a second viewer: the same list
    assert (payloads.made, payloads.shared) == (1, 1)
    assert len(first) > 3 and max(len(p) for p in first) <= 1300
    assert _depacketize(first) == [SPS, PPS, big]  # a viewer can start on it
    assert _depacketize(payloads.get(delta, 4, config, record)) == [P]
    # A viewer that holds another configuration does not get the first one's SPS/PPS.
    other = AvcDecoderConfig.from_parameter_sets(SPS[:-1] + b"\xc6", PPS)
    assert payloads.get(key, 4, other, other.serialize()) is not first
    # An equal unit that is another object is another unit (no false sharing by content).
    twin = Unit(1, TrackKind.VIDEO, 0, 0, True, key.payload)
    assert payloads.get(twin, 4, config, record) is not first


def test_payloads_cache_is_bounded() -> None:
    from media.units import TrackKind, Unit
    from media.webrtc.payloads import H264Payloads

    payloads = H264Payloads(capacity=4)
    units = [Unit(1, TrackKind.VIDEO, i, i, False, to_avcc([P])) for i in range(10)]
    for unit in units:
        payloads.get(unit, 4, None, None)
    assert len(payloads._entries) == 4
    payloads.get(units[0], 4, None, None)  # evicted: made again, still correct
    assert (payloads.made, payloads.shared) == (11, 0)


def test_host_addresses_are_looked_up_once_per_ttl() -> None:
    """media.webrtc.ice: aioice's per-connection interface walk is answered from a cache
    for HOST_ADDRESSES_TTL seconds, then looked up again."""
    from media.webrtc.ice import CachedHostAddresses

    calls: list[tuple[bool, bool]] = []
    now = [100.0]

    def lookup(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        calls.append((use_ipv4, use_ipv6))
        return [f"10.0.0.{len(calls)}"]

    cached = CachedHostAddresses(lookup, ttl=10.0, clock=lambda: now[0])
    assert cached(True, False) == ["10.0.0.1"]
    now[0] += 9.0
    assert cached(True, False) == ["10.0.0.1"]
    assert cached(True, True) == ["10.0.0.2"]  # another question, looked up
    now[0] += 1.0
    assert cached(True, False) == ["10.0.0.3"]
    assert calls == [(True, False), (True, True), (True, False)]


def test_aioice_asks_the_cache() -> None:
    from aioice import ice as aioice_ice

    from media.webrtc.ice import CachedHostAddresses, cache_host_addresses

    installed = cache_host_addresses()
    assert aioice_ice.get_host_addresses is installed
    assert isinstance(installed, CachedHostAddresses)
    assert cache_host_addresses() is installed  # once
