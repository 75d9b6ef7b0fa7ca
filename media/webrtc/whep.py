"""WHEP playback: ``POST /whep/{slug}`` with an SDP offer that receives media.

Answers: 201 + SDP answer + ``Location: /whep/{slug}/{session}`` + ``Link`` per ICE server;
404 for an unknown room or one that is not live; 415 unless ``application/sdp``; 400 for an
offer we cannot use (no H.264 video and no Opus audio); 503 + ``Retry-After`` when the
viewers' pool or the room is full; 429 + ``Retry-After`` when the client's address holds
``max_viewers_per_address`` sessions; 502 + ``Retry-After`` when the room is live on another
node and this one could not relay it from there (:mod:`media.webrtc.edge`). Errors are JSON
(:func:`media.webrtc.http.fail`).
``DELETE`` on the session resource ends the viewer's session (204).

A gate on who may watch (tickets, the ``realtime`` latency class) is the server's: it passes
``authorize_viewer(slug, request)`` (true/false, may be async); by default everyone may watch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from media.hub import Hub
from media.webrtc.config import WebRtcSettings
from media.webrtc.errors import NoCapacity, OfferError, PullRefused
from media.webrtc.http import (
    METHODS,
    RoomExists,
    add_routes,
    created,
    fail,
    get_webrtc,
    maybe_await,
    read_offer,
)
from media.webrtc.session import NotLive, WebRtc

RETRY_FULL_S = "10"
RETRY_ORIGIN_S = "2"


def setup_routes(
    app: web.Application,
    hub: Hub,
    room_exists: RoomExists,
    *,
    settings: WebRtcSettings | None = None,
    authorize_viewer: Callable[[str, web.Request], Any] | None = None,
) -> WebRtc:
    """Add the WHEP routes to ``app``; returns the process's :class:`WebRtc`."""
    webrtc = get_webrtc(app, lambda: WebRtc(hub, settings))

    async def post(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        if not await maybe_await(room_exists(slug)):
            return fail("whep", 404, "no_room", f"no room {slug!r}")
        if authorize_viewer is not None and not await maybe_await(authorize_viewer(slug, request)):
            return fail("whep", 403, "forbidden", "you may not watch this room in real time")
        offer = await read_offer(request, "whep")
        if isinstance(offer, web.Response):
            return offer
        try:
            session, answer = await webrtc.play(slug, offer, request.remote or "?")
        except NotLive:
            return fail("whep", 404, "offline", f"room {slug!r} is not live")
        except PullRefused as exc:
            return fail("whep", 502, "origin_unreachable", str(exc), **{"Retry-After": RETRY_ORIGIN_S})
        except NoCapacity as exc:
            status = 429 if exc.reason == "address_full" else 503
            return fail("whep", status, exc.reason, str(exc), **{"Retry-After": RETRY_FULL_S})
        except OfferError as exc:
            return fail("whep", 400, "bad_offer", str(exc))
        location = f"/whep/{slug}/{session.id}"
        return created(answer, location, webrtc.settings.link_headers(), METHODS)

    add_routes(app, webrtc, "whep", post, webrtc.end)
    return webrtc
