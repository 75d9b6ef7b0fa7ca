"""Errors of the HLS packager.

The tree::

    HlsError
    ├── BoxError                 bytes that are not a well-formed ISO BMFF box sequence
    │   ├── TruncatedBox         the data ends inside a box header or body
    │   └── MalformedBox         a header that cannot be right (size smaller than the header)
    └── UnsupportedTrack         we were asked to package a codec the writer has no entry for

BoxError is "the bytes are bad" (only ever raised by the parser used in tests and tools);
UnsupportedTrack is "we were called wrongly".
"""

from __future__ import annotations


class HlsError(Exception):
    """Base class of every error raised by :mod:`media.hls`."""


class BoxError(HlsError):
    """Bytes that do not parse as ISO BMFF boxes."""


class TruncatedBox(BoxError):
    """The data ends inside a box."""


class MalformedBox(BoxError):
    """A box header that cannot be right."""


class UnsupportedTrack(HlsError):
    """The fMP4 writer has no sample entry for this codec."""
