"""WHIP ingest, RFC 9725: ``POST /whip/{slug}`` with the stream key as a Bearer token.

Answers (section 4.2 and 4.3), errors as JSON (:func:`media.webrtc.http.fail`):

* 201 + SDP answer + ``Location: /whip/{slug}/{session}`` + ``Link`` per ICE server;
* 401 without a Bearer token, 403 for a wrong one; 404 for an unknown room;
* 429 + ``Retry-After`` when this address sent too many wrong keys for this room
  (:class:`media.throttle.FailureThrottle`, scope = the room; checked before the key, and a
  right key for another room does not clear it);
* 415 unless the body is ``application/sdp``; 400 for an offer we cannot use;
* 409 when the room already has a live publisher (one silent for 2 s is replaced: the same
  key reconnecting after a dead session), here or, in a cluster, on another node
  (``claim(slug)`` is False); 503 when the publishers' pool is full (viewers
  have a pool of their own and cannot fill this one).

``DELETE`` on the session resource ends the broadcast (204); ``OPTIONS`` answers CORS
preflights. Trickle ICE (``PATCH``) is not offered: the answer carries every candidate.

``media`` imports nothing of the server: it passes ``authorize_publisher(slug, key)``
(true/false, may be async, may raise PermissionError) and ``room_exists(slug)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from media.errors import AlreadyPublishing
from media.hub import Hub
from media.throttle import FailureThrottle, address_key, retry_after_header
from media.webrtc.config import WebRtcSettings
from media.webrtc.errors import NoCapacity, OfferError
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

RETRY_FULL_S = "10"

ClaimRoom = Callable[[str], Awaitable[bool]]


async def _claim_anywhere(slug: str) -> bool:
    return True


def setup_routes(
    app: web.Application,
    hub: Hub,
    authorize_publisher: Authorize,
    room_exists: RoomExists,
    *,
    settings: WebRtcSettings | None = None,
    throttle: FailureThrottle | None = None,
    clock: Callable[[], float] = time.monotonic,
    claim: ClaimRoom = _claim_anywhere,
) -> WebRtc:
    """Add the WHIP routes to ``app``; returns the process's :class:`WebRtc`.

    ``throttle`` counts wrong keys per (address, room); the server shares one with its RTMP
    ingest (their scopes differ). By default the routes have one of their own."""
    webrtc = get_webrtc(app, lambda: WebRtc(hub, settings))
    failures = throttle if throttle is not None else FailureThrottle()

    async def check_key(request: web.Request, slug: str) -> web.Response | None:
        token = bearer_token(request)
        if token is None:
            return fail("whip", 401, "no_key", "send the room's stream key as 'Authorization: Bearer <key>'",
                        **{"WWW-Authenticate": 'Bearer realm="whip"'})
        address = address_key(request.remote or "?")
        wait = failures.retry_after(address, slug, clock())
        if wait > 0:
            return fail("whip", 429, "throttled", "too many wrong stream keys for this room; try again later",
                        **{"Retry-After": retry_after_header(wait)})
        try:
            allowed = await maybe_await(authorize_publisher(slug, token))
        except PermissionError:
            allowed = False
        if not allowed:
            log.info("WHIP %s: wrong stream key from %s", slug, address)
            failures.record_failure(address, slug, clock())
            return fail("whip", 403, "bad_key", "wrong stream key for this room")
        failures.record_success(address, slug)
        return None

    async def post(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if not await maybe_await(room_exists(slug)):
            return fail("whip", 404, "no_room", f"no room {slug!r}")
        refused = await check_key(request, slug)
        if refused is not None:
            return refused
        offer = await read_offer(request, "whip")
        if isinstance(offer, web.Response):
            return offer
        if not await claim(slug):
            return fail("whip", 409, "already_publishing", "this room already has a live publisher")
        try:
            webrtc.check_can_publish(slug)
            session, answer = await webrtc.publish(slug, offer, request.remote or "?")
        except AlreadyPublishing:
            return fail("whip", 409, "already_publishing", "this room already has a live publisher")
        except NoCapacity as exc:
            return fail("whip", 503, exc.reason, str(exc), **{"Retry-After": RETRY_FULL_S})
        except OfferError as exc:
            return fail("whip", 400, "bad_offer", str(exc))
        location = f"/whip/{slug}/{session.id}"
        return created(answer, location, webrtc.settings.link_headers(), METHODS)

    add_routes(app, webrtc, "whip", post, webrtc.stop_broadcast)
    return webrtc
