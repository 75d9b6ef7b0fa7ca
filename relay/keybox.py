"""Stream keys of restream targets: sealed at rest, masked everywhere else.

A key is sealed with AES-256-GCM (``cryptography``'s AESGCM) under a 32-byte secret that
does not live in the database: either derived (HKDF-SHA256) from the operator's
``--secret-key`` setting, or read from ``relay-secret.key`` in the data dir, which is made
on first start with mode 0600. A leaked database file alone therefore reveals no key.
Each sealed value is bound to its room (GCM associated data), so a sealed key copied to
another room's row does not open.

Stored form: ``v1.`` + urlsafe base64 of (12-byte nonce || ciphertext || 16-byte tag).

Outside the box a key is only ever shown masked: :func:`mask` keeps the last four
characters of a long key and nothing of a short one.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from relay.errors import SecretError

SECRET_FILE = "relay-secret.key"
VERSION = "v1."
NONCE_LEN = 12
_HKDF_INFO = b"notalabel relay stream keys v1"


def mask(key: str) -> str:
    """``****wxyz`` for keys of 12 characters or more, ``****`` for shorter ones."""
    return "****" + key[-4:] if len(key) >= 12 else "****"


def derive(passphrase: str) -> bytes:
    """The 32-byte sealing secret for an operator-given ``--secret-key``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return hkdf.derive(passphrase.encode())


def load_or_create_secret(data_dir: str | Path) -> bytes:
    """Read the secret file in ``data_dir``; create it (mode 0600, 32 random bytes) if missing."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise SecretError(f"{path} does not hold a hex secret") from None
    if len(secret) != 32:
        raise SecretError(f"{path} must hold 32 bytes (64 hex digits)")
    return secret


class KeyBox:
    """Seal and open stream keys under one 32-byte secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise SecretError("the sealing secret must be 32 bytes")
        self._aead = AESGCM(secret)

    @classmethod
    def from_settings(cls, data_dir: str | Path, passphrase: str = "") -> KeyBox:
        return cls(derive(passphrase) if passphrase else load_or_create_secret(data_dir))

    def seal(self, key: str, room_id: int) -> str:
        nonce = os.urandom(NONCE_LEN)
        sealed = self._aead.encrypt(nonce, key.encode(), _aad(room_id))
        return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str, room_id: int) -> str:
        if not stored.startswith(VERSION):
            raise SecretError("unknown sealed key format")
        try:
            raw = base64.urlsafe_b64decode(stored[len(VERSION):])
            plain = self._aead.decrypt(raw[:NONCE_LEN], raw[NONCE_LEN:], _aad(room_id))
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretError("a stored stream key does not open with this secret") from None
        return plain.decode()

    def __repr__(self) -> str:
        return "KeyBox(<secret>)"


def _aad(room_id: int) -> bytes:
    return f"room:{room_id}".encode()
