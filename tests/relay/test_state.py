"""The target state table and the backoff schedule."""

from __future__ import annotations

import random

import pytest

from relay.backoff import Backoff
from relay.errors import IllegalTransition
from relay.state import TRANSITIONS, TargetEvent, TargetState, next_state

S, E = TargetState, TargetEvent


@pytest.mark.parametrize(("state", "event", "after"), [
    (S.IDLE, E.START, S.CONNECTING),
    (S.CONNECTING, E.ACCEPTED, S.LIVE),
    (S.CONNECTING, E.BROKEN, S.RETRYING),
    (S.CONNECTING, E.REFUSED, S.FAILED),
    (S.LIVE, E.BROKEN, S.RETRYING),
    (S.RETRYING, E.RETRY, S.CONNECTING),
    (S.FAILED, E.START, S.CONNECTING),
    (S.LIVE, E.STOP, S.IDLE),
])
def test_legal(state: TargetState, event: TargetEvent, after: TargetState) -> None:
    assert next_state(state, event) is after


def test_everything_else_is_illegal() -> None:
    for state in S:
        for event in E:
            if (state, event) not in TRANSITIONS:
                with pytest.raises(IllegalTransition):
                    next_state(state, event)
    assert all(next_state(s, E.STOP) is S.IDLE for s in S)


def test_backoff_grows_jitters_and_caps() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    rng = random.Random(5)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0), (100, 8.0)):
        delays = {backoff.delay(attempt, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 40  # spread, not in step
