"""Ingest presets and endpoint URLs."""

from __future__ import annotations

import pytest

from relay.errors import TargetConfigError
from relay.presets import Endpoint, Platform, resolve_ingest


@pytest.mark.parametrize(("platform", "ingest", "url", "expected"), [
    (Platform.YOUTUBE, None, None, ("rtmp", "rtmp://a.rtmp.youtube.com/live2")),
    (Platform.YOUTUBE, "rtmps", None, ("rtmps", "rtmps://a.rtmps.youtube.com:443/live2")),
    (Platform.TWITCH, None, None, ("auto", "rtmp://live.twitch.tv/app")),
    (Platform.TWITCH, "sea02.contribute.live-video.net", None,
     ("sea02.contribute.live-video.net", "rtmp://sea02.contribute.live-video.net/app")),
    (Platform.CUSTOM, None, "rtmp://127.0.0.1:1935/live/", ("custom", "rtmp://127.0.0.1:1935/live")),
])
def test_resolve(platform: Platform, ingest: str | None, url: str | None, expected: tuple[str, str]) -> None:
    assert resolve_ingest(platform, ingest, url) == expected


def test_refusals() -> None:
    with pytest.raises(TargetConfigError):
        resolve_ingest(Platform.CUSTOM, None, None)
    with pytest.raises(TargetConfigError):
        resolve_ingest(Platform.YOUTUBE, None, "rtmp://x/y")
    with pytest.raises(TargetConfigError):
        resolve_ingest(Platform.TWITCH, "x.example.com", None)
    with pytest.raises(TargetConfigError):
        resolve_ingest(Platform.CUSTOM, None, "rtmp://" + "a" * 600 + "/live")


@pytest.mark.parametrize(("url", "endpoint"), [
    ("rtmp://a.rtmp.youtube.com/live2", Endpoint("a.rtmp.youtube.com", 1935, False, "live2",
                                                 "rtmp://a.rtmp.youtube.com/live2")),
    ("rtmps://a.rtmps.youtube.com:443/live2", Endpoint("a.rtmps.youtube.com", 443, True, "live2",
                                                       "rtmps://a.rtmps.youtube.com:443/live2")),
    ("rtmps://h.example/app/inst", Endpoint("h.example", 443, True, "app/inst", "rtmps://h.example/app/inst")),
    ("rtmp://b.rtmp.youtube.com/live2?backup=1", Endpoint("b.rtmp.youtube.com", 1935, False, "live2?backup=1",
                                                          "rtmp://b.rtmp.youtube.com/live2?backup=1")),
])
def test_endpoint(url: str, endpoint: Endpoint) -> None:
    assert Endpoint.parse(url) == endpoint
