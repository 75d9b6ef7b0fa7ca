"""Token buckets, blocked terms and settings parsing."""

from __future__ import annotations

import pytest

from rooms.moderation import RoomSettings
from rooms.ratelimit import Buckets, Rate, TokenBucket
from rooms.terms import compile_terms, find_blocked, normalize_terms


def test_bucket_refills_continuously() -> None:
    bucket = TokenBucket(Rate(2, 10.0), now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.retry_after(0.0) == pytest.approx(5.0)
    assert not bucket.take(4.9)
    assert bucket.take(5.0)
    assert bucket.full(100.0)


def test_bucket_ignores_clock_going_back() -> None:
    bucket = TokenBucket(Rate(1, 10.0), now=50.0)
    assert bucket.take(50.0)
    assert not bucket.take(10.0)


def test_buckets_prune_idle() -> None:
    buckets = Buckets(prune_above=2)
    rate = Rate(1, 1.0)
    buckets.get(1, rate, 0.0).take(0.0)
    buckets.get(2, rate, 0.0)
    buckets.get(3, rate, 0.5)  # prunes 2 (full), keeps 1 (not yet refilled)
    assert len(buckets) == 2


@pytest.mark.parametrize(
    ("terms", "text", "hit"),
    [
        (["spam"], "no SPAM please", "spam"),
        (["spam"], "spammer", None),
        (["spam*"], "Spammer!", "spam*"),
        (["*coin"], "bitcoin.", "*coin"),
        (["f*ck"], "fck that", "f*ck"),
        (["ass"], "first class", None),
        (["free money"], "FREE money!", "free money"),
        (["a.b"], "axb", None),
        ([], "anything", None),
    ],
)
def test_blocked_terms(terms: list[str], text: str, hit: str | None) -> None:
    assert find_blocked(compile_terms(terms), text) == hit


def test_normalize_terms() -> None:
    assert normalize_terms([" Spam ", "spam", "", "*", "free   money"]) == ("Spam", "free money")


def test_settings_parse_is_lenient_for_stored_values() -> None:
    assert RoomSettings.parse({"slow_mode_s": 999}) == RoomSettings()
    assert RoomSettings.parse(
        {"slow_mode_s": 5, "chat": "signed_in", "blocked_terms": ["x"], "z": 1}
    ) == (RoomSettings(5, "signed_in", ("x",)))
