"""The failure throttle, pure: time is passed in."""

from __future__ import annotations

from media.rtmp.ratelimit import FailureThrottle


def test_blocks_after_max_failures_within_window_and_expires() -> None:
    t = FailureThrottle(max_failures=3, window_s=10, block_s=60)
    assert not t.record_failure("a", 0)
    assert not t.record_failure("a", 1)
    assert t.record_failure("a", 2)
    assert t.is_blocked("a", 61) and not t.is_blocked("a", 62.5)
    assert not t.is_blocked("b", 2)


def test_window_restarts_and_success_clears() -> None:
    t = FailureThrottle(max_failures=2, window_s=10, block_s=60)
    t.record_failure("a", 0)
    assert not t.record_failure("a", 11)  # the first one fell out of the window
    assert t.record_failure("a", 12)
    t.record_success("a")
    assert not t.is_blocked("a", 13) and len(t) == 0


def test_memory_is_bounded_by_forgetting_the_least_recent() -> None:
    t = FailureThrottle(max_failures=1, block_s=60, max_addresses=100)
    for i in range(1000):
        t.record_failure(f"10.0.{i // 256}.{i % 256}", 0)
    assert len(t) == 100
    assert t.is_blocked("10.0.3.231", 1) and not t.is_blocked("10.0.0.0", 1)


def test_empty_throttle_is_still_a_throttle() -> None:
    # Regression: FailureThrottle has __len__, so `throttle or default` replaced a fresh one.
    assert len(FailureThrottle()) == 0
