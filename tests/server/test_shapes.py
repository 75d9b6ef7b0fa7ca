"""The start-up checks of the library internals we touch pass on the installed versions and
fail loudly, naming the attribute, when a library changed shape."""

from __future__ import annotations

import aioice.ice
import pytest
from aiohttp import web
from aiohttp.http_websocket import WebSocketWriter
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from media.webrtc.ice import AioiceShapeChanged, check_aioice
from media.webrtc.taps import AiortcShapeChanged, check_aiortc
from rooms.wsio import AiohttpWsShapeChanged, check_aiohttp_ws
from server.shapes import check_libraries


async def test_every_check_passes_on_the_installed_libraries() -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        check_libraries(runner)
    finally:
        await runner.cleanup()


def _init_without_attributes(self: object, *args: object, **kwargs: object) -> None:
    return None


@pytest.mark.parametrize(
    ("owner", "name", "named"),
    [
        (RTCRtpReceiver, "_send_rtcp_pli", "RTCRtpReceiver._send_rtcp_pli"),
        (RTCRtpSender, "_send_keyframe", "RTCRtpSender._send_keyframe"),
        (RTCRtpSender, "_next_encoded_frame", "RTCRtpSender._next_encoded_frame"),
        (RTCRtpSender, "_run_rtp", r"RTCRtpSender\.send starting self\._run_rtp"),
        (RTCRtpSender, "_retransmit", r"calling self\._retransmit\(sequence_number\)"),
    ],
)
def test_aiortc_check_names_a_missing_method(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str, named: str
) -> None:
    monkeypatch.delattr(owner, name)
    with pytest.raises(AiortcShapeChanged, match=named):
        check_aiortc()


def test_aiortc_check_names_an_attribute_no_longer_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RemoteStreamTrack, "__init__", _init_without_attributes)
    with pytest.raises(AiortcShapeChanged, match=r"RemoteStreamTrack\._queue"):
        check_aiortc()


def test_aiortc_check_names_what_the_room_sender_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    async def run_rtcp_reading_nothing(self: object) -> None:
        return None

    monkeypatch.setattr(RTCRtpSender, "_run_rtcp", run_rtcp_reading_nothing)
    with pytest.raises(AiortcShapeChanged, match=r"_run_rtcp reading _RTCRtpSender__packet_count"):
        check_aiortc()
    monkeypatch.undo()
    monkeypatch.setattr(RTCRtpSender, "__init__", _init_without_attributes)
    with pytest.raises(AiortcShapeChanged, match=r"RTCRtpSender\._rtx_ssrc.*RTCRtpSender\._RTCRtpSender__rtp_exited"):
        check_aiortc()


def test_aioice_check_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aioice.ice, "server_reflexive_candidate")
    with pytest.raises(AioiceShapeChanged, match=r"aioice\.ice\.server_reflexive_candidate"):
        check_aioice()
    monkeypatch.setattr(aioice.ice.Connection, "__init__", _init_without_attributes)
    with pytest.raises(AioiceShapeChanged, match=r"Connection\._protocols"):
        check_aioice()
    monkeypatch.undo()
    monkeypatch.setattr(aioice.ice.CandidatePair, "__init__", _init_without_attributes)
    with pytest.raises(AioiceShapeChanged, match=r"CandidatePair\.protocol"):
        check_aioice()


def test_aiohttp_ws_check_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WebSocketWriter, "__init__", _init_without_attributes)
    with pytest.raises(AiohttpWsShapeChanged, match=r"WebSocketWriter\.transport"):
        check_aiohttp_ws()
    monkeypatch.delattr(web.WebSocketResponse, "_post_start")
    with pytest.raises(AiohttpWsShapeChanged, match=r"WebSocketResponse\._writer"):
        check_aiohttp_ws()
