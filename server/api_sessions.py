"""Your sessions (list them, end one) and room socket tickets.

``GET /api/me/sessions`` never shows a token: a session is named by its public ``id``.
``DELETE /api/me/sessions/{id}`` ends one of yours; anyone else's is 404, like one that
does not exist. ``POST /api/rooms/{slug}/socket-ticket`` gives a single-use ticket for
``/ws/rooms/{slug}?ticket=...`` (see server/tickets.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa
from aiohttp import web

from server import auth, tickets
from server import tables as t
from server.errors import NotFound, TooManyRequests
from server.httputil import BAD_INPUT, REFUSED, json_response
from server.keys import ENGINE, SERVICES, SETTINGS


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


async def list_sessions(request: web.Request) -> web.Response:
    current = await auth.current_session(request)
    columns = t.sessions.c
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(
            sa.select(columns.id, columns.created_at, columns.last_seen_at, columns.expires_at, columns.user_agent)
            .where((columns.user_id == current.identity.user_id) & (columns.expires_at > time.time()))
            .order_by(columns.created_at.desc())
        )).all()
    return json_response({"sessions": [
        {"id": r.id, "created_at": iso(r.created_at), "last_seen_at": iso(r.last_seen_at),
         "expires_at": iso(r.expires_at), "user_agent": r.user_agent or "", "current": r.id == current.session_id}
        for r in rows
    ]})


async def end_session(request: web.Request) -> web.Response:
    current = await auth.current_session(request)
    session_id = request.match_info["session_id"]
    where = (t.sessions.c.id == session_id) & (t.sessions.c.user_id == current.identity.user_id)
    async with request.app[ENGINE].begin() as conn:
        ended = (await conn.execute(t.sessions.delete().where(where).returning(t.sessions.c.token_hash))).all()
    if len(ended) != 1:
        BAD_INPUT.labels("no_session").inc()
        raise NotFound("you have no session with that id", "no_session")
    await request.app[SERVICES].sessions.ended(ended[0].token_hash)
    response = web.Response(status=204)
    if session_id == current.session_id:
        auth.clear_session_cookies(response)
    return response


async def socket_ticket(request: web.Request) -> web.Response:
    current = await auth.current_session(request)
    slug = request.match_info["slug"]
    if await request.app[SERVICES].store.room_row(slug) is None:
        raise NotFound(f"no room {slug!r}", "no_room")
    ttl = request.app[SETTINGS].socket_ticket_ttl_s
    try:
        ticket, expires_at = await tickets.issue(request.app[ENGINE], current.token_hash, slug, ttl)
    except tickets.TooManyTickets:
        REFUSED.labels("socket_tickets").inc()
        raise TooManyRequests("too many unused socket tickets; use one or wait a minute", ttl) from None
    return json_response({"ticket": ticket, "expires_at": iso(expires_at)}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/me/sessions", list_sessions)
    app.router.add_delete("/api/me/sessions/{session_id}", end_session)
    app.router.add_post("/api/rooms/{slug}/socket-ticket", socket_ticket)
