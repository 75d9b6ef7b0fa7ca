"""The credential one node shows another to pull a room's media (media.webrtc.pull).

``Authorization: NAL-Edge EXPIRES.SIGNATURE``: ``SIGNATURE`` is the hex HMAC-SHA256 of
``edge pull\\nSLUG\\nEXPIRES`` (``EXPIRES`` in Unix seconds) under a key derived from the
cluster's ``--secret-key`` (the one every node already shares so that a viewing token made
on one is good on another). Rules:

* Only nodes hold the key: it is derived for this purpose alone (a viewing token, signed
  under another derivation of the same seed, is no credential), never sent to a browser,
  and the signature names one room.
* A credential is good for :data:`TTL_S` seconds, and one valid further ahead than that
  (a clock far off, or a forgery) is refused, so a credential seen once (a log) stops
  working soon.

Pure: the time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "NAL-Edge"
TTL_S = 30


def derive(seed: bytes) -> bytes:
    return hmac.new(seed, b"edge pulls", hashlib.sha256).digest()


def _signature(key: bytes, slug: str, expires: int) -> str:
    return hmac.new(key, f"edge pull\n{slug}\n{expires}".encode(), hashlib.sha256).hexdigest()


def credential(key: bytes, slug: str, now: float) -> str:
    """The ``Authorization`` value for pulling ``slug`` now."""
    expires = int(now) + TTL_S
    return f"{SCHEME} {expires}.{_signature(key, slug, expires)}"


def refusal(key: bytes, slug: str, header: str, now: float) -> str | None:
    """Why ``header`` is no credential for ``slug`` now (``missing``, ``malformed``,
    ``expired``, ``forged``), or None when it is one."""
    scheme, _, value = header.partition(" ")
    if scheme != SCHEME:
        return "missing"
    expires_text, _, signature = value.strip().partition(".")
    if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 12 or not signature:
        return "malformed"
    expires = int(expires_text)
    if not now <= expires <= now + TTL_S + 1:
        return "expired"
    if not hmac.compare_digest(signature, _signature(key, slug, expires)):
        return "forged"
    return None
