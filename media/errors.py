"""Errors of the stream hub and its codec helpers.

The tree::

    MediaError
    ├── CodecConfigError        the peer sent a codec configuration we cannot read
    │                            (SPS, AVCDecoderConfigurationRecord, AudioSpecificConfig, OpusHead)
    ├── PublishError            a publish request was refused
    │   └── AlreadyPublishing   the room already has a live publisher (and replace=False)
    ├── UsageError              we were called wrongly (unknown track, bad state transition)
    │   └── IllegalTransition   a stream state change the state table does not allow
    └── StreamEnded             a reader asked for more after its stream went offline

"The peer sent garbage" (CodecConfigError) is kept apart from "we were called wrongly"
(UsageError): the first is logged and answered, the second is a bug.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every error raised by :mod:`media` (outside its subpackages)."""


class CodecConfigError(MediaError):
    """A codec configuration record from the publisher is malformed or unsupported."""


class PublishError(MediaError):
    """A publish request was refused."""


class AlreadyPublishing(PublishError):
    """The room already has a live publisher; pass ``replace=True`` when the same key reconnects."""

    def __init__(self, slug: str, source: str) -> None:
        super().__init__(f"room {slug!r} already has a live publisher ({source})")
        self.slug = slug
        self.source = source


class UsageError(MediaError):
    """The hub was called wrongly (a bug in the caller, not bad input from a peer)."""


class IllegalTransition(UsageError):
    """A stream state change that the state table does not allow."""


class StreamEnded(MediaError):
    """The stream went offline and the reader has drained everything it was given."""
