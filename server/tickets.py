"""Room socket tickets: short-lived, single-use, bound to one room and one session.

A page asks ``POST /api/rooms/{slug}/socket-ticket`` (signed in) and opens
``/ws/rooms/{slug}?ticket=...`` within ``--socket-ticket-ttl-s``; the long session token never
appears in a URL, so it never lands in a proxy's access log. Tickets live in the database
(only their SHA-256), so any node can redeem one another node issued; redeeming deletes it,
and ending the session deletes its tickets (foreign key, ON DELETE CASCADE).

Publish tickets (``pub_``, server/api_publish.py) share the table: the owner's page mints one
and sends it to WHIP as the Bearer token instead of the stream key. A ticket's prefix is its
purpose: a socket ticket never publishes and a publish ticket never opens a socket.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rooms.ports import Identity
from server import tables as t

LIVE_PER_SESSION = 20  # unredeemed tickets one session may hold at once
SOCKET = "tkt_"
PUBLISH = "pub_"


class TooManyTickets(Exception):
    """The session holds ``LIVE_PER_SESSION`` live tickets already."""


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue(engine: AsyncEngine, session_hash: str, slug: str, ttl_s: float,
                purpose: str = SOCKET) -> tuple[str, float]:
    """A new ticket and when it expires (epoch seconds); sweeps expired ones on the way."""
    ticket, now = purpose + secrets.token_urlsafe(24), time.time()
    async with engine.begin() as conn:
        await conn.execute(t.socket_tickets.delete().where(t.socket_tickets.c.expires_at < now))
        live = await conn.scalar(sa.select(sa.func.count()).select_from(t.socket_tickets)
                                 .where(t.socket_tickets.c.session_hash == session_hash))
        if (live or 0) >= LIVE_PER_SESSION:
            raise TooManyTickets
        await conn.execute(t.socket_tickets.insert().values(
            ticket_hash=_hash(ticket), session_hash=session_hash, room_slug=slug, expires_at=now + ttl_s))
    return ticket, now + ttl_s


async def redeem(engine: AsyncEngine, ticket: str, slug: str, purpose: str = SOCKET) -> Identity | None:
    """The user of a live ticket for this room, used up now; None if unknown, used, expired,
    another room's or minted for another purpose."""
    if not ticket.startswith(purpose):
        return None
    hashed, now = _hash(ticket), time.time()
    async with engine.begin() as conn:
        row = (await conn.execute(
            sa.select(t.users.c.id, t.users.c.username, t.socket_tickets.c.room_slug,
                      t.socket_tickets.c.expires_at, t.sessions.c.expires_at.label("session_expires_at"))
            .select_from(t.socket_tickets
                         .join(t.sessions, t.sessions.c.token_hash == t.socket_tickets.c.session_hash)
                         .join(t.users, t.users.c.id == t.sessions.c.user_id))
            .where(t.socket_tickets.c.ticket_hash == hashed)
        )).first()
        if row is None:
            return None
        used = await conn.execute(t.socket_tickets.delete().where(t.socket_tickets.c.ticket_hash == hashed))
    if used.rowcount != 1:  # another socket redeemed it first
        return None
    if row.room_slug != slug or row.expires_at < now or row.session_expires_at < now:
        return None
    return Identity(row.id, row.username)
