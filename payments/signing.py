"""Stripe's webhook signature scheme, Sans-I/O (https://docs.stripe.com/webhooks#verify-manually).

``Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...]`` where each ``v1`` is
``HMAC-SHA256(secret, f"{t}.{raw body}")`` in lower-case hex. Rules:

- the raw body is verified before anything parses it;
- any ``v1`` matching any of our secrets (several during a rotation) is accepted; ``v0`` and
  unknown schemes are ignored;
- the timestamp must be within ``tolerance`` seconds of now, in either direction (a replayed
  old delivery is refused; so is one claiming to come from the future);
- comparisons are constant-time.

The sandbox provider signs with :func:`sign`, exactly as Stripe does, so one handler serves both.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from payments.errors import SignatureError

TOLERANCE_S = 300
MAX_HEADER = 4096


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Stripe-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """``(timestamp, [v1 signatures])``; raises ``SignatureError`` when malformed."""
    if not header or len(header) > MAX_HEADER:
        raise SignatureError("missing or oversized Stripe-Signature header", "no_signature")
    timestamp: int | None = None
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                raise SignatureError("bad timestamp in Stripe-Signature", "bad_signature")
            timestamp = int(value)
        elif key == "v1":
            v1.append(value)
    if timestamp is None or not v1:
        raise SignatureError("Stripe-Signature needs t= and v1=", "no_signature")
    return timestamp, v1


def verify(header: str, body: bytes, secrets: Sequence[str], now: float, tolerance: int = TOLERANCE_S) -> int:
    """Check ``header`` against ``body``; the signed timestamp, or ``SignatureError``."""
    timestamp, sigs = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance", "stale_signature")
    for secret in secrets:
        expected = signature(secret, timestamp, body)
        if any(hmac.compare_digest(expected, s) for s in sigs):
            return timestamp
    raise SignatureError("no signature matches", "bad_signature")
