"""The origin's limit on an edge pull's keyframe requests (media.webrtc.pull): at most one
passed to the publisher per KEYFRAME_INTERVAL_S per pull, on an injected clock."""

from __future__ import annotations

from aiohttp import web

from media.hub import Hub
from media.webrtc.pull import KEYFRAME_INTERVAL_S, Pull
from media.webrtc.session import WebRtc


async def test_a_pulls_keyframe_requests_pass_at_most_once_per_interval() -> None:
    now = [100.0]
    webrtc = WebRtc(Hub())
    first, second = (Pull(webrtc, "room1", web.WebSocketResponse(), lambda: now[0]) for _ in range(2))
    assert first.keyframe_wanted()
    assert not first.keyframe_wanted()
    assert second.keyframe_wanted()  # each pull (each edge) has its own allowance
    now[0] += KEYFRAME_INTERVAL_S - 0.01
    assert not first.keyframe_wanted()
    now[0] += 0.01
    assert first.keyframe_wanted()
    assert not first.keyframe_wanted()
