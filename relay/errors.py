"""Errors of the restream relay.

The tree::

    RelayError
    ├── TargetConfigError        the owner asked for a target we cannot build (platform, URL, key)
    │   ├── BadDestination       the URL's host or port is malformed or spelled in a refused
    │   │   │                    form (``rule`` names which, see :mod:`relay.destination`)
    │   │   └── ForbiddenDestination  the URL names an address the destination policy refuses
    │   └── TooManyTargets       the room already has as many targets as it may
    ├── SecretError              the stream-key box cannot open a stored key
    │                            (another secret, or a tampered row)
    ├── PublishFailed            one publishing attempt ended; ``retry`` says whether trying
    │   │                        again may help (network) or not (the server refused us)
    │   ├── KeyRefused           the ingest server refused the stream key (``reason`` is its word)
    │   └── DestinationRefused   the host resolved to an address the policy refuses; nothing
    │                            was sent (``rule`` is for the log and metrics, never the owner)
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


class BadDestination(TargetConfigError):
    """A custom URL whose host or port we refuse before any lookup."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ForbiddenDestination(BadDestination):
    """A custom URL naming an address (or our own listener) the destination policy refuses."""


class TooManyTargets(TargetConfigError):
    """The room has reached its limit of restream targets."""


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


class DestinationRefused(PublishFailed):
    """A target's host resolved to an address the destination policy refuses.

    The owner reads only :data:`GENERIC` (which address and rule stays in the log): retrying
    would not help until the owner edits the target, so it is not retried.
    """

    retry = False
    GENERIC = "destination not allowed"

    def __init__(self, rule: str) -> None:
        super().__init__(self.GENERIC)
        self.rule = rule


class IllegalTransition(RelayError):
    """A target state change that :data:`relay.state.TRANSITIONS` does not allow."""
