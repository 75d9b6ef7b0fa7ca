"""The state machine of one restream target.

Rules:

* A target is ``idle`` until its room goes live (and it is enabled); then ``connecting``.
* ``connecting`` becomes ``live`` once the ingest server accepted our publish, ``retrying``
  when the attempt failed in a way that may pass (network, server gone), and ``failed``
  when the server refused us (wrong or revoked key): trying again would not help, so a
  failed target waits for the owner to edit or re-enable it, or for the next show.
* ``live`` becomes ``retrying`` when the connection breaks.
* ``retrying`` becomes ``connecting`` when its backoff delay (:mod:`relay.backoff`) is over.
* ``stop`` (room offline, target disabled or deleted, shutdown) returns any state to ``idle``.

Anything else raises :class:`relay.errors.IllegalTransition`.
"""

from __future__ import annotations

import enum

from relay.errors import IllegalTransition


class TargetState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    RETRYING = "retrying"
    FAILED = "failed"


class TargetEvent(enum.Enum):
    START = "start"
    ACCEPTED = "accepted"
    BROKEN = "broken"
    REFUSED = "refused"
    RETRY = "retry"
    STOP = "stop"


S, E = TargetState, TargetEvent
TRANSITIONS: dict[tuple[TargetState, TargetEvent], TargetState] = {
    (S.IDLE, E.START): S.CONNECTING,
    (S.FAILED, E.START): S.CONNECTING,
    (S.CONNECTING, E.ACCEPTED): S.LIVE,
    (S.CONNECTING, E.BROKEN): S.RETRYING,
    (S.CONNECTING, E.REFUSED): S.FAILED,
    (S.LIVE, E.BROKEN): S.RETRYING,
    (S.LIVE, E.REFUSED): S.FAILED,
    (S.RETRYING, E.RETRY): S.CONNECTING,
    **{(state, E.STOP): S.IDLE for state in S},
}


def next_state(state: TargetState, event: TargetEvent) -> TargetState:
    target = TRANSITIONS.get((state, event))
    if target is None:
        raise IllegalTransition(f"restream target: {event.value} while {state}")
    return target
