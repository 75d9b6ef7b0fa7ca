"""WHEP playback: ``POST /whep/{slug}`` with an SDP offer that receives media.

Answers: 201 + SDP answer + ``Location: /whep/{slug}/{session}`` + ``Link`` per ICE server;
404 for an unknown room or one that is not live; 415 unless ``application/sdp``; 400 for an
offer we cannot use (no H.264 video and no Opus audio); 503 when the process is full.
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
from media.webrtc.errors import OfferError
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
            return fail(404, f"no room {slug!r}")
        if authorize_viewer is not None and not await maybe_await(authorize_viewer(slug, request)):
            return fail(403, "you may not watch this room in real time")
        offer = await read_offer(request)
        if isinstance(offer, web.Response):
            return offer
        if webrtc.full:
            return fail(503, "this server has no room for another WebRTC session", **{"Retry-After": "10"})
        try:
            session, answer = await webrtc.play(slug, offer)
        except NotLive:
            return fail(404, f"room {slug!r} is not live")
        except OfferError as exc:
            return fail(400, str(exc))
        location = f"/whep/{slug}/{session.id}"
        return created(answer, location, webrtc.settings.link_headers(), METHODS)

    add_routes(app, webrtc, "whep", post, webrtc.end)
    return webrtc
