"""WHIP ingest, RFC 9725: ``POST /whip/{slug}`` with the stream key as a Bearer token.

Answers (section 4.2 and 4.3):

* 201 + SDP answer + ``Location: /whip/{slug}/{session}`` + ``Link`` per ICE server;
* 401 without a Bearer token, 403 for a wrong one; 404 for an unknown room;
* 415 unless the body is ``application/sdp``; 400 for an offer we cannot use;
* 409 when the room already has a live publisher (one silent for 2 s is replaced: the same
  key reconnecting after a dead session); 503 when the process has no room left.

``DELETE`` on the session resource ends the broadcast (204); ``OPTIONS`` answers CORS
preflights. Trickle ICE (``PATCH``) is not offered: the answer carries every candidate.

``media`` imports nothing of the server: it passes ``authorize_publisher(slug, key)``
(true/false, may be async, may raise PermissionError) and ``room_exists(slug)``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from media.errors import AlreadyPublishing
from media.hub import Hub
from media.webrtc.config import WebRtcSettings
from media.webrtc.errors import OfferError
from media.webrtc.http import (
    METHODS,
    Authorize,
    RoomExists,
    add_routes,
    bearer_token,
    created,
    fail,
    get_webrtc,
    maybe_await,
    read_offer,
)
from media.webrtc.session import WebRtc

log = logging.getLogger(__name__)



def setup_routes(
    app: web.Application,
    hub: Hub,
    authorize_publisher: Authorize,
    room_exists: RoomExists,
    *,
    settings: WebRtcSettings | None = None,
) -> WebRtc:
    """Add the WHIP routes to ``app``; returns the process's :class:`WebRtc`."""
    webrtc = get_webrtc(app, lambda: WebRtc(hub, settings))

    async def post(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if not await maybe_await(room_exists(slug)):
            return fail(404, f"no room {slug!r}")
        token = bearer_token(request)
        if token is None:
            return fail(401, "send the room's stream key as 'Authorization: Bearer <key>'",
                        **{"WWW-Authenticate": 'Bearer realm="whip"'})
        try:
            allowed = await maybe_await(authorize_publisher(slug, token))
        except PermissionError:
            allowed = False
        if not allowed:
            log.info("WHIP %s: wrong stream key from %s", slug, request.remote)
            return fail(403, "wrong stream key for this room")
        offer = await read_offer(request)
        if isinstance(offer, web.Response):
            return offer
        if webrtc.full:
            return fail(503, "this server has no room for another WebRTC session", **{"Retry-After": "10"})
        try:
            replace = webrtc.check_can_publish(slug)
            session, answer = await webrtc.publish(slug, offer, request.remote or "?", replace=replace)
        except AlreadyPublishing:
            return fail(409, "this room already has a live publisher")
        except OfferError as exc:
            return fail(400, str(exc))
        location = f"/whip/{slug}/{session.id}"
        return created(answer, location, webrtc.settings.link_headers(), METHODS)

    add_routes(app, webrtc, "whip", post, webrtc.stop_broadcast)
    return webrtc
