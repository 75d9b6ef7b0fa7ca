"""Ingest presets: where YouTube, Twitch and custom RTMP(S) targets publish.

A target is a platform, an optional ingest choice and a stream key. Twitch's ingest choice
is ``auto`` (the closest server), ``rtmps``, or the host name of one of its ingest servers
(``<name>.contribute.live-video.net``, as listed by Twitch for each region). ``resolve_ingest``
turns the first two into the server URL (``rtmp[s]://host[:port]/app``); the key is the
stream name published on it and never part of the URL we show.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from relay.destination import check_netloc
from relay.errors import TargetConfigError


class Platform(enum.StrEnum):
    YOUTUBE = "youtube"
    TWITCH = "twitch"
    CUSTOM = "custom"


INGESTS: dict[Platform, dict[str, str]] = {
    Platform.YOUTUBE: {
        "rtmp": "rtmp://a.rtmp.youtube.com/live2",
        "rtmps": "rtmps://a.rtmps.youtube.com:443/live2",
        "backup": "rtmp://b.rtmp.youtube.com/live2?backup=1",
    },
    Platform.TWITCH: {
        "auto": "rtmp://live.twitch.tv/app",
        "rtmps": "rtmps://live.twitch.tv:443/app",
    },
}
DEFAULT_INGEST: dict[Platform, str] = {Platform.YOUTUBE: "rtmp", Platform.TWITCH: "auto"}
TWITCH_HOST_RE = re.compile(r"^[a-z0-9-]{1,40}\.contribute\.live-video\.net$")
SCHEMES = {"rtmp": 1935, "rtmps": 443}
MAX_URL = 500


def parse_platform(value: object) -> Platform:
    try:
        return Platform(str(value))
    except ValueError:
        raise TargetConfigError("platform must be 'youtube', 'twitch' or 'custom'") from None


def resolve_ingest(platform: Platform, ingest: str | None, url: str | None) -> tuple[str, str]:
    """(ingest choice, server URL) for a target; custom targets bring their own URL."""
    if platform is Platform.CUSTOM:
        if url is None:
            raise TargetConfigError("a custom target needs 'url' (rtmp://host/app or rtmps://...)")
        check_url(url)
        return "custom", url.rstrip("/")
    if url is not None:
        raise TargetConfigError(f"'url' is only for custom targets; choose an ingest for {platform}")
    choice = ingest or DEFAULT_INGEST[platform]
    options = INGESTS[platform]
    if choice in options:
        return choice, options[choice]
    if platform is Platform.TWITCH and TWITCH_HOST_RE.match(choice):
        return choice, f"rtmp://{choice}/app"
    extra = " or a Twitch ingest host name" if platform is Platform.TWITCH else ""
    raise TargetConfigError(f"ingest for {platform} must be one of {', '.join(sorted(options))}{extra}")


def check_url(url: str) -> tuple[str, int]:
    """A server URL: rtmp or rtmps, a host, an application path, no credentials.

    Answers (host, port), the port defaulting by scheme; the host and port rules are
    :func:`relay.destination.check_netloc`'s.
    """
    if len(url) > MAX_URL:
        raise TargetConfigError(f"url longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise TargetConfigError("url must start with rtmp:// or rtmps://")
    if not parts.netloc:
        raise TargetConfigError("url has no host")
    host, port = check_netloc(parts.netloc)
    if not parts.path.strip("/"):
        raise TargetConfigError("url needs an application path, e.g. rtmp://host/live")
    return host, port or SCHEMES[parts.scheme]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one target publishes: host, port, TLS or not, the RTMP app and tcUrl."""

    host: str
    port: int
    tls: bool
    app: str
    tc_url: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        host, port = check_url(url)
        parts = urlsplit(url)
        app = parts.path.strip("/")
        if parts.query:
            app = f"{app}?{parts.query}"
        return cls(host, port, parts.scheme == "rtmps", app, url.rstrip("/"))
