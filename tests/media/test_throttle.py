"""The credential failure throttle, pure: a table of (steps, expected answers), time passed in."""

from __future__ import annotations

import pytest

from media.throttle import ANY_ROOM, FailureThrottle, address_key, retry_after_header

# Each step: ("fail" | "ok" | "wait?", address, scope, now) -> the answer of that call
# (seconds to wait for "fail" and "wait?", None for "ok").
CASES = {
    "blocks after max failures and expires": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 1, 0), ("fail", "a", "r1", 2, 60),
        ("wait?", "a", "r1", 61, 1), ("wait?", "a", "r1", 62.5, 0),
    ],
    "other addresses are untouched": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 60),
        ("wait?", "b", "r1", 1, 0),
    ],
    "other rooms of the same address are untouched": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 60),
        ("wait?", "a", "r2", 1, 0), ("wait?", "a", ANY_ROOM, 1, 0),
    ],
    "a success for another room does not clear the count": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 1, 0), ("ok", "a", "r2", 2, None),
        ("ok", "a", ANY_ROOM, 2, None), ("fail", "a", "r1", 3, 60),
    ],
    "a success for the same room clears it": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 1, 0), ("ok", "a", "r1", 2, None),
        ("fail", "a", "r1", 3, 0), ("wait?", "a", "r1", 3, 0),
    ],
    "the window restarts": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 1, 0), ("fail", "a", "r1", 12, 0),
        ("fail", "a", "r1", 13, 0), ("fail", "a", "r1", 14, 60),
    ],
    "a failure while blocked keeps the block as it was": [
        ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 0), ("fail", "a", "r1", 0, 60),
        ("fail", "a", "r1", 30, 30), ("wait?", "a", "r1", 61, 0),
    ],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_throttle_table(steps: list[tuple[str, str, str, float, float | None]]) -> None:
    throttle = FailureThrottle(max_failures=3, window_s=10, block_s=60)
    for action, address, scope, now, expected in steps:
        if action == "fail":
            answer: float | None = throttle.record_failure(address, scope, now)
        elif action == "ok":
            answer = throttle.record_success(address, scope)
        else:
            answer = throttle.retry_after(address, scope, now)
        assert answer == expected, (action, address, scope, now)


def test_memory_is_bounded_by_forgetting_the_least_recent() -> None:
    throttle = FailureThrottle(max_failures=1, block_s=60, max_entries=100)
    for i in range(1000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}", "r1", 0)
    assert len(throttle) == 100
    assert throttle.is_blocked("10.0.3.231", "r1", 1) and not throttle.is_blocked("10.0.0.0", "r1", 1)


def test_empty_throttle_is_still_a_throttle() -> None:
    # Regression: FailureThrottle has __len__, so `throttle or default` replaced a fresh one.
    assert len(FailureThrottle()) == 0


@pytest.mark.parametrize(("seconds", "header"), [(0.2, "1"), (1.0, "1"), (1.01, "2"), (299.5, "300")])
def test_retry_after_is_whole_seconds_never_zero(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.5", "203.0.113.5"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("?", "?"),
])
def test_per_address_limits_count_an_ipv6_peer_per_64(address: str, key: str) -> None:
    assert address_key(address) == key
