"""Going live from the studio page without the stream key.

``POST /api/rooms/{slug}/publish-ticket`` (the room's owner, signed in) gives a single-use
ticket, valid ``--socket-ticket-ttl-s``, that ``POST /whip/{slug}`` takes as its Bearer token
in place of the stream key (server.live.Live.authorize_publisher). The key stays for OBS and
is shown only when the room is created or the key rotated; the page never needs it.
"""

from __future__ import annotations

from aiohttp import web

from server import auth, tickets
from server.api_sessions import iso
from server.errors import Forbidden, NotFound, TooManyRequests
from server.httputil import REFUSED, json_response
from server.keys import ENGINE, SERVICES, SETTINGS


async def publish_ticket(request: web.Request) -> web.Response:
    current = await auth.current_session(request)
    slug = request.match_info["slug"]
    row = await request.app[SERVICES].store.room_row(slug)
    if row is None:
        raise NotFound(f"no room {slug!r}", "no_room")
    if row.owner_id != current.identity.user_id:
        raise Forbidden("only the room's owner may go live from the studio")
    ttl = request.app[SETTINGS].socket_ticket_ttl_s
    try:
        ticket, expires_at = await tickets.issue(request.app[ENGINE], current.token_hash, slug, ttl,
                                                 purpose=tickets.PUBLISH)
    except tickets.TooManyTickets:
        REFUSED.labels("publish_tickets").inc()
        raise TooManyRequests("too many unused tickets; use one or wait a minute", ttl) from None
    return json_response({"ticket": ticket, "expires_at": iso(expires_at)}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/rooms/{slug}/publish-ticket", publish_ticket)
