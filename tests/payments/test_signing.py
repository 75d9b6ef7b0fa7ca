"""payments.signing: Stripe's webhook signature scheme, both ways, every malformed header."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.errors import SignatureError
from payments.signing import parse_header, sign, verify

BODY = b'{"id":"evt_1","object":"event"}'
SECRET = "whsec_test"
NOW = 1_700_000_000


def test_sign_is_stripes_scheme() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"
    assert verify(sign(SECRET, NOW, BODY), BODY, [SECRET], NOW) == NOW


def test_any_secret_and_any_v1_match_and_v0_is_ignored() -> None:
    good = sign("whsec_new", NOW, BODY).split("v1=")[1]
    header = f"t={NOW},v0=deadbeef,v1={'0' * 64},v1={good}"
    assert verify(header, BODY, ["whsec_old", "whsec_new"], NOW) == NOW


@pytest.mark.parametrize(("header", "code"), [
    ("", "no_signature"),
    ("t=1", "no_signature"),
    ("v1=00", "no_signature"),
    ("garbage", "no_signature"),
    ("t=12x,v1=00", "bad_signature"),
    ("t=" + "9" * 13 + ",v1=00", "bad_signature"),
    ("x" * 5000, "no_signature"),
])
def test_malformed_headers(header: str, code: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(header, BODY, [SECRET], NOW)
    assert caught.value.code == code


def test_tolerance_both_ways_and_wrong_secret_or_body() -> None:
    for at, ok in ((NOW - 300, True), (NOW + 300, True), (NOW - 301, False), (NOW + 301, False)):
        header = sign(SECRET, at, BODY)
        if ok:
            assert verify(header, BODY, [SECRET], NOW) == at
        else:
            with pytest.raises(SignatureError, match="tolerance"):
                verify(header, BODY, [SECRET], NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(sign("whsec_other", NOW, BODY), BODY, [SECRET], NOW)
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(sign(SECRET, NOW, BODY), BODY + b" ", [SECRET], NOW)


def test_every_truncated_prefix_of_a_header_is_refused() -> None:
    header = sign(SECRET, NOW, BODY)
    for n in range(len(header)):
        with pytest.raises(SignatureError):
            verify(header[:n], BODY, [SECRET], NOW)


@given(st.text(max_size=300))
def test_any_header_text_raises_only_signature_errors(header: str) -> None:
    try:
        parse_header(header)
        verify(header, BODY, [SECRET], NOW)
    except SignatureError:
        pass
