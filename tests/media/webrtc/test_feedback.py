"""media.webrtc.feedback against SRTCP made by libsrtp (pylibsrtp) from aiortc's RTCP packets,
with each SRTP profile aiortc negotiates."""

from __future__ import annotations

import os

import pytest
from aiortc import rtp
from pylibsrtp import Policy, Session

from media.webrtc.feedback import is_bitrate_feedback

PROFILES = {  # profile: master key + salt length
    Policy.SRTP_PROFILE_AES128_CM_SHA1_80: 30,
    Policy.SRTP_PROFILE_AEAD_AES_128_GCM: 28,
    Policy.SRTP_PROFILE_AEAD_AES_256_GCM: 44,
}
REMB = bytes(rtp.RtcpPsfbPacket(fmt=rtp.RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=rtp.pack_remb_fci(2_500_000, [7, 8])))
PLI = bytes(rtp.RtcpPsfbPacket(fmt=rtp.RTCP_PSFB_PLI, ssrc=1, media_ssrc=7))
RR = bytes(rtp.RtcpRrPacket(ssrc=1, reports=[rtp.RtcpReceiverInfo(
    ssrc=7, fraction_lost=0, packets_lost=0, highest_sequence=9, jitter=1, lsr=0, dlsr=0)]))
EMPTY_RR = bytes(rtp.RtcpRrPacket(ssrc=1))


@pytest.fixture(params=list(PROFILES), ids=["aes128-cm-sha1-80", "aead-aes-128-gcm", "aead-aes-256-gcm"])
def protect(request: pytest.FixtureRequest) -> Session:
    policy = Policy(key=os.urandom(PROFILES[request.param]), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                    srtp_profile=request.param)
    return Session(policy)


def test_a_lone_remb_is_feedback(protect: Session) -> None:
    assert is_bitrate_feedback(protect.protect_rtcp(REMB))


@pytest.mark.parametrize("plain", [PLI, RR, EMPTY_RR, RR + REMB, REMB + EMPTY_RR, REMB + PLI],
                         ids=["pli", "rr", "empty-rr", "rr+remb", "remb+empty-rr", "remb+pli"])
def test_anything_else_is_not(protect: Session, plain: bytes) -> None:
    assert not is_bitrate_feedback(protect.protect_rtcp(plain))


def test_unprotected_rtcp_rtp_and_truncations_are_not(protect: Session) -> None:
    datagram = protect.protect_rtcp(REMB)
    taken = [end for end in range(len(datagram)) if is_bitrate_feedback(datagram[:end])]
    # A GCM datagram cut to the size of an HMAC-SHA1 one looks like one (and is not valid
    # SRTCP: aiortc would drop it anyway); no other truncation passes.
    assert taken == ([len(REMB) + 14] if len(datagram) == len(REMB) + 20 else [])
    assert not is_bitrate_feedback(REMB)  # no SRTCP trailer
    packet = rtp.RtpPacket(payload_type=111, sequence_number=1, timestamp=0, ssrc=1, payload=REMB)
    assert not is_bitrate_feedback(packet.serialize())
    assert not is_bitrate_feedback(b"")
