"""Viewing tokens: short-lived, signed, checked without the database. Pure.

A token says "this ticket's device session may watch this room until then, in this latency
class, with or without chat". It is::

    base64url("v1|ticket|session|room|r-or-s|1-or-0|expires") "." base64url(HMAC-SHA256[:16])

The key is the server's (derived from its secret key), so any node verifies any node's
token. Verifying checks the MAC in constant time, then the expiry; a token says nothing about
revocation, which the server's viewing registry answers (one device per ticket, refunds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ticketing.errors import BadToken

VERSION = "v1"
MAC_BYTES = 16
MAX_TOKEN = 512


@dataclass(frozen=True)
class ViewingGrant:
    ticket_id: str
    session: str
    room: str
    realtime: bool
    chat: bool
    expires_at: int

    def serialize(self) -> bytes:
        fields = (VERSION, self.ticket_id, self.session, self.room, "r" if self.realtime else "s",
                  "1" if self.chat else "0", str(self.expires_at))
        if any("|" in f or not f for f in fields):
            raise ValueError("a viewing grant's fields are non-empty and hold no '|'")
        return "|".join(fields).encode()

    @classmethod
    def parse(cls, raw: bytes) -> ViewingGrant:
        try:
            version, ticket, session, room, latency, chat, expires = raw.decode("ascii").split("|")
        except (UnicodeDecodeError, ValueError):
            raise BadToken("malformed viewing token") from None
        if version != VERSION or latency not in "rs" or chat not in "01" or not expires.isdigit():
            raise BadToken("malformed viewing token")
        return cls(ticket, session, room, latency == "r", chat == "1", int(expires))


def derive_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"notalabel viewing token v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, grant: ViewingGrant) -> str:
    payload = grant.serialize()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def verify(key: bytes, token: str, now: float) -> ViewingGrant:
    """The grant a genuine, unexpired token carries; ``BadToken`` otherwise."""
    if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise BadToken("malformed viewing token")
    head, tail = token.split(".")
    try:
        payload, mac = _unb64(head), _unb64(tail)
    except (binascii.Error, ValueError):
        raise BadToken("malformed viewing token") from None
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise BadToken("forged viewing token")
    grant = ViewingGrant.parse(payload)
    if now >= grant.expires_at:
        raise BadToken("expired viewing token")
    return grant


class VerifiedTokens:
    """:func:`verify` with a memory: a viewer's burst of media requests (a playlist reload
    and its parts, five of each a second) sends the same token again and again, and costs
    one HMAC per token instead of one per request.

    Safe because a token's verdict depends only on the key, which is fixed, and the time:
    a genuine token is remembered with its grant, and the grant's expiry is checked against
    ``now`` on every hit, exactly as :func:`verify` would. Only genuine tokens are kept (a
    forged one is verified in full every time, so forgeries cannot crowd out the real ones),
    at most ``max_tokens``; past that the memory starts over.
    """

    def __init__(self, key: bytes, max_tokens: int = 20_000) -> None:
        self.key = key
        self.max_tokens = max_tokens
        self._grants: dict[str, ViewingGrant] = {}

    def verify(self, token: str, now: float) -> ViewingGrant:
        """As :func:`verify`: the grant of a genuine, unexpired token; ``BadToken`` otherwise."""
        grant = self._grants.get(token)
        if grant is None:
            grant = verify(self.key, token, now)
            if len(self._grants) >= self.max_tokens:
                self._grants.clear()
            self._grants[token] = grant
        elif now >= grant.expires_at:
            del self._grants[token]
            raise BadToken("expired viewing token")
        return grant
