"""Errors of the restream relay.

The tree::

    RelayError
    ├── TargetConfigError        the owner asked for a target we cannot build (platform, URL, key)
    ├── SecretError              the stream-key box cannot open a stored key
    │                            (another secret, or a tampered row)
    ├── PublishFailed            one publishing attempt ended; ``retry`` says whether trying
    │   │                        again may help (network) or not (the server refused us)
    │   └── KeyRefused           the ingest server refused the stream key (``reason`` is its word)
    └── IllegalTransition        a target state change the state table does not allow (a bug)

"The owner sent something unusable" (TargetConfigError) is kept apart from "the ingest
server said no" (KeyRefused) and from "we were called wrongly" (IllegalTransition).
Messages never contain a stream key in full.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base class of every error raised by :mod:`relay`."""


class TargetConfigError(RelayError):
    """A restream target description that cannot be used (unknown platform, bad URL...)."""


class SecretError(RelayError):
    """A stored stream key cannot be opened with the configured secret."""


class PublishFailed(RelayError):
    """One publishing attempt to an ingest server ended."""

    retry = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyRefused(PublishFailed):
    """The ingest server refused to let us publish (wrong or revoked stream key)."""

    retry = False


class IllegalTransition(RelayError):
    """A target state change that :data:`relay.state.TRANSITIONS` does not allow."""
