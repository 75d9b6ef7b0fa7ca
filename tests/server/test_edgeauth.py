"""The credential of an edge pull (server.edgeauth): good for one room for a short while,
under a key only nodes hold."""

from __future__ import annotations

import pytest

from server import edgeauth

KEY = edgeauth.derive(b"cluster secret")
NOW = 1_800_000_000.0


def test_a_credential_is_good_for_its_room_until_it_expires() -> None:
    value = edgeauth.credential(KEY, "room1", NOW)
    assert value.startswith(f"NAL-Edge {int(NOW) + edgeauth.TTL_S}.")
    assert edgeauth.refusal(KEY, "room1", value, NOW) is None
    assert edgeauth.refusal(KEY, "room1", value, NOW + edgeauth.TTL_S) is None
    assert edgeauth.refusal(KEY, "room1", value, NOW + edgeauth.TTL_S + 1) == "expired"
    assert edgeauth.refusal(KEY, "room2", value, NOW) == "forged"
    assert edgeauth.refusal(edgeauth.derive(b"another cluster"), "room1", value, NOW) == "forged"


@pytest.mark.parametrize(("header", "reason"), [
    ("", "missing"),
    ("Bearer vt.token", "missing"),
    ("NAL-Edge", "malformed"),
    ("NAL-Edge 123", "malformed"),
    ("NAL-Edge x.abc", "malformed"),
    ("NAL-Edge 1234567890123.abc", "malformed"),
    (f"NAL-Edge {int(NOW) + 3600}.abc", "expired"),  # valid too far ahead: not one of ours
    (f"NAL-Edge {int(NOW) + 10}.abc", "forged"),
])
def test_anything_else_is_refused_with_its_reason(header: str, reason: str) -> None:
    assert edgeauth.refusal(KEY, "room1", header, NOW) == reason


def test_the_key_is_not_the_seed_nor_the_viewing_tokens() -> None:
    assert KEY != b"cluster secret" and len(KEY) == 32
    assert edgeauth.derive(b"cluster secret") == KEY
