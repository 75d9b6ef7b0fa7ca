"""The login throttle core, with the time passed in."""

from __future__ import annotations

import pytest

from rooms.ratelimit import Rate
from server.throttle import KeyedBuckets, LoginThrottle


def test_account_bucket_empties_then_refills() -> None:
    throttle = LoginThrottle(Rate(3, 30.0), Rate(100, 30.0))
    assert [throttle.attempt("alice", "a1", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.attempt("alice", "a1", 0.0) == pytest.approx(10.0)
    assert throttle.attempt("alice", "a2", 5.0) == pytest.approx(5.0)  # another address: still held
    assert throttle.attempt("bob", "a1", 5.0) == 0.0  # another account is not
    assert throttle.attempt("alice", "a1", 10.0) == 0.0  # one token back after 10 s
    assert throttle.attempt("alice", "a1", 10.0) > 0


def test_address_bucket_holds_every_account() -> None:
    throttle = LoginThrottle(Rate(100, 60.0), Rate(2, 60.0))
    assert throttle.attempt("u1", "addr", 0.0) == 0.0
    assert throttle.attempt("u2", "addr", 0.0) == 0.0
    assert throttle.attempt("u3", "addr", 0.0) == pytest.approx(30.0)
    assert throttle.attempt("u3", "other", 0.0) == 0.0


def test_a_refused_attempt_takes_nothing_and_success_gives_back() -> None:
    throttle = LoginThrottle(Rate(2, 20.0), Rate(2, 20.0))
    throttle.attempt("alice", "a", 0.0)
    throttle.attempt("alice", "a", 0.0)
    for _ in range(5):
        assert throttle.attempt("alice", "a", 0.0) > 0
    assert throttle.attempt("alice", "a", 10.0) == 0.0  # refusals did not push the wait further
    throttle.succeeded("alice", "a", 10.0)
    assert throttle.attempt("alice", "a", 10.0) == 0.0


def test_keys_are_bounded() -> None:
    buckets = KeyedBuckets(Rate(1, 100.0), max_keys=10)
    for n in range(50):
        buckets.take(f"k{n}", 0.0)
    assert len(buckets) <= 10
    assert buckets.retry_after("k49", 0.0) > 0  # the newest are kept


def test_a_rate_of_none_is_off() -> None:
    throttle = LoginThrottle(None, Rate(2, 60.0))
    for _ in range(2):
        assert throttle.attempt("alice", "addr", 0.0) == 0.0
    assert throttle.attempt("alice", "other", 0.0) == 0.0  # no account throttle
    assert throttle.attempt("bob", "addr", 0.0) > 0  # the address one still holds
    assert len(throttle.accounts) == 0
