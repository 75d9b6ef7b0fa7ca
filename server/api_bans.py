"""``GET /api/rooms/{slug}/bans``: who is banned from the room's chat and requests, for its
owner and hosts (the moderate page lists them with an Unban button, which sends the room
socket's ``mod.unban``). Newest first, at most ``MAX_LISTED``."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from server import auth
from server import tables as t
from server.api_sessions import iso
from server.errors import Forbidden, NotFound
from server.httputil import json_response
from server.keys import ENGINE, SERVICES

MAX_LISTED = 500


async def list_bans(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    store = request.app[SERVICES].store
    row = await store.room_row(request.match_info["slug"])
    if row is None:
        raise NotFound("no such room", "no_room")
    if identity.user_id != row.owner_id and identity.user_id not in await store.host_ids(row.id):
        raise Forbidden("only the room's owner or hosts may see its bans")
    banned, by = t.users.alias("banned"), t.users.alias("by")
    query = (sa.select(banned.c.username, by.c.username.label("by"), t.room_bans.c.created_at)
             .select_from(t.room_bans.join(banned, banned.c.id == t.room_bans.c.user_id)
                          .outerjoin(by, by.c.id == t.room_bans.c.banned_by))
             .where(t.room_bans.c.room_id == row.id)
             .order_by(t.room_bans.c.created_at.desc()).limit(MAX_LISTED))
    async with request.app[ENGINE].connect() as conn:
        rows = (await conn.execute(query)).all()
    return json_response({"bans": [{"username": r.username, "by": r.by, "created_at": iso(r.created_at)}
                                   for r in rows]})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/rooms/{slug}/bans", list_bans)
