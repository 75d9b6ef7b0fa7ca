"""Errors of the WebRTC package.

The tree::

    WebRtcError
    ├── OfferError              the peer sent an SDP offer we cannot use (answered 400)
    │   └── NoUsableCodec       the offer parses but names no codec we can take or give
    ├── SessionNotFound         no WHIP/WHEP session at that resource (answered 404)
    ├── NoCapacity              a session cap is reached (answered 503, or 429 per address)
    ├── EdgeError               an edge relay could not take a room from its origin
    │   ├── PullRefused         the origin refused the pull or the room is not live there
    │   └── WireError           the other node sent a pull message we cannot read
    └── ConfigError             we were configured wrongly (bad ICE server URL, port range)

"The peer sent garbage" (OfferError) is kept apart from "we were set up wrongly" (ConfigError).
Exceptions of aiortc raised while applying an offer are wrapped in :class:`OfferError` at the
boundary (:mod:`media.webrtc.session`).
"""

from __future__ import annotations


class WebRtcError(Exception):
    """Base class of every error raised by :mod:`media.webrtc`."""


class OfferError(WebRtcError):
    """The SDP offer is malformed or cannot be negotiated."""


class NoUsableCodec(OfferError):
    """The offer names no codec we accept (H.264 or VP8 video, Opus audio)."""


class SessionNotFound(WebRtcError):
    """No session with that id (it ended, or never existed)."""


class NoCapacity(WebRtcError):
    """A session cap is reached; ``reason`` names which (``publishers_full``,
    ``viewers_full``, ``room_full``, ``address_full``) for the answer and the metric."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EdgeError(WebRtcError):
    """An edge relay (:mod:`media.webrtc.edge`) could not take a room from its origin."""


class PullRefused(EdgeError):
    """The origin cannot be reached, refused the pull, or does not hold the room (any more)."""


class WireError(EdgeError):
    """A pull message (:mod:`media.webrtc.pullwire`) is truncated or malformed."""


class ConfigError(WebRtcError):
    """A WebRTC setting is malformed."""
