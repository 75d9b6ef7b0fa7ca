"""Viewing tokens: round trip, forgery, expiry, every truncation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.errors import BadToken
from ticketing.tokens import ViewingGrant, derive_key, sign, verify

KEY = derive_key(b"server secret")
GRANT = ViewingGrant("tkt_0123", "vs_abc", "friday-show-1a2b3c", True, False, 2_000_000_000)


def test_round_trip() -> None:
    assert verify(KEY, sign(KEY, GRANT), 1_900_000_000) == GRANT


def test_another_key_or_a_changed_payload_is_forged() -> None:
    token = sign(KEY, GRANT)
    with pytest.raises(BadToken, match="forged"):
        verify(derive_key(b"other"), token, 0)
    other = sign(KEY, ViewingGrant("tkt_9999", "vs_abc", GRANT.room, True, True, GRANT.expires_at))
    spliced = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(BadToken, match="forged"):
        verify(KEY, spliced, 0)


def test_expired() -> None:
    with pytest.raises(BadToken, match="expired"):
        verify(KEY, sign(KEY, GRANT), GRANT.expires_at)


def test_every_truncated_prefix_is_refused() -> None:
    token = sign(KEY, GRANT)
    for n in range(len(token)):
        with pytest.raises(BadToken):
            verify(KEY, token[:n], 0)


@given(st.text(max_size=600))
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(BadToken):
        verify(KEY, text, 0)
