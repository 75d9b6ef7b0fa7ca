"""Errors of the transcode package.

The tree::

    TranscodeError
    ├── BridgeInputError      a packet or frame the decoder could not read (the peer's fault)
    └── BridgeSetupError      a codec could not be opened (our build of FFmpeg lacks it)

PyAV's ``av.FFmpegError`` is wrapped into these at the boundary of each bridge.
"""

from __future__ import annotations


class TranscodeError(Exception):
    """Base class of every error raised by :mod:`media.transcode`."""


class BridgeInputError(TranscodeError):
    """The input could not be decoded; the bridge keeps going with the next one."""


class BridgeSetupError(TranscodeError):
    """An encoder or decoder could not be created."""
