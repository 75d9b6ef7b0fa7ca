"""Sealing and masking of stream keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.errors import SecretError
from relay.keybox import SECRET_FILE, KeyBox, derive, load_or_create_secret, mask


@pytest.mark.parametrize(("key", "masked"), [
    ("abcd-efgh-ijkl-mnop", "****mnop"),
    ("123456789012", "****9012"),
    ("12345678901", "****"),
    ("x", "****"),
])
def test_mask(key: str, masked: str) -> None:
    assert mask(key) == masked


@given(st.text(min_size=1, max_size=300))
def test_seal_open_round_trip(key: str) -> None:
    box = KeyBox(b"\x01" * 32)
    sealed = box.seal(key, 7)
    assert box.open(sealed, 7) == key
    assert key not in sealed or len(key) < 4


def test_sealed_key_is_bound_to_room_and_secret() -> None:
    box = KeyBox(b"\x01" * 32)
    sealed = box.seal("stream-key-1234", 1)
    assert sealed != box.seal("stream-key-1234", 1)  # fresh nonce each time
    with pytest.raises(SecretError):
        box.open(sealed, 2)
    with pytest.raises(SecretError):
        KeyBox(b"\x02" * 32).open(sealed, 1)
    with pytest.raises(SecretError):
        box.open(sealed[:-4] + "AAAA", 1)
    with pytest.raises(SecretError):
        box.open("v0.abc", 1)
    with pytest.raises(SecretError):
        box.open("v1.!!!", 1)
    assert "\x01" not in repr(box)


def test_secret_file_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "data")
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(tmp_path / "data") == first and len(first) == 32
    box = KeyBox.from_settings(tmp_path / "data")
    assert KeyBox(first).open(box.seal("k" * 20, 3), 3) == "k" * 20
    path.write_text("not hex")
    with pytest.raises(SecretError):
        load_or_create_secret(tmp_path / "data")


def test_passphrase_setting_replaces_the_file(tmp_path: Path) -> None:
    box = KeyBox.from_settings(tmp_path, "correct horse battery staple")
    assert not (tmp_path / SECRET_FILE).exists()
    sealed = box.seal("the-key-0000", 1)
    assert KeyBox(derive("correct horse battery staple")).open(sealed, 1) == "the-key-0000"
    with pytest.raises(SecretError):
        KeyBox(derive("another")).open(sealed, 1)
