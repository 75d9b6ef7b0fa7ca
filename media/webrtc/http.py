"""What the WHIP and WHEP endpoints share: CORS, content-type and body checks, error answers.

Error answers are JSON ``{"error": code, "message": one sentence}`` like the rest of the API
(OBS logs and ``curl`` users read the sentence), and every one is counted in
``nal_webrtc_refused_total{kind, reason}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from media.webrtc.errors import SessionNotFound
from media.webrtc.metrics import REFUSED
from media.webrtc.sdp import MAX_OFFER_BYTES
from media.webrtc.session import Session, WebRtc

SDP_TYPE = "application/sdp"
WEBRTC_KEY: web.AppKey[WebRtc] = web.AppKey("media.webrtc", WebRtc)

METHODS = "POST, OPTIONS"
RESOURCE_METHODS = "DELETE, OPTIONS"

RoomExists = Callable[[str], bool | Awaitable[bool]]
Authorize = Callable[[str, str], Any]


def cors_headers(methods: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
        "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch",
        "Access-Control-Max-Age": "86400",
    }


def fail(kind: str, status: int, reason: str, message: str, methods: str = METHODS,
         **headers: str) -> web.Response:
    """A refusal of a ``kind`` ("whip"/"whep") request, counted under ``reason``."""
    REFUSED.labels(kind, reason).inc()
    return web.json_response({"error": reason, "message": message}, status=status,
                             headers={**cors_headers(methods), **headers})


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def read_offer(request: web.Request, kind: str) -> str | web.Response:
    """The SDP offer of a POST, or the error answer (415 wrong type, 400 empty or too big)."""
    if request.content_type != SDP_TYPE:
        return fail(kind, 415, "bad_content_type",
                    f"the offer must be sent as {SDP_TYPE}, not {request.content_type or 'nothing'}")
    too_big = f"the offer is larger than {MAX_OFFER_BYTES} bytes"
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        return fail(kind, 400, "offer_too_large", too_big)
    body = await request.content.read(MAX_OFFER_BYTES + 1)
    if len(body) > MAX_OFFER_BYTES:
        return fail(kind, 400, "offer_too_large", too_big)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return fail(kind, 400, "bad_offer", "the offer is not UTF-8 text")


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def created(answer: str, location: str, links: list[str], methods: str) -> web.Response:
    headers = {**cors_headers(methods), "Location": location}
    response = web.Response(status=201, body=answer.encode(), content_type=SDP_TYPE, headers=headers)
    for link in links:
        response.headers.add("Link", link)
    return response


def get_webrtc(app: web.Application, factory: Callable[[], WebRtc]) -> WebRtc:
    """The process's one :class:`WebRtc`, made on first use and closed with the app."""
    if WEBRTC_KEY not in app:
        webrtc = factory()
        app[WEBRTC_KEY] = webrtc

        async def close(_app: web.Application) -> None:
            await webrtc.close()

        app.on_shutdown.append(close)
    return app[WEBRTC_KEY]


def add_routes(
    app: web.Application,
    webrtc: WebRtc,
    kind: str,
    post: Callable[[web.Request], Awaitable[web.Response]],
    end: Callable[[Session], Awaitable[None]],
) -> None:
    """The resource layout both WHIP and WHEP use (RFC 9725 section 4).

    ``OPTIONS``/``POST /{kind}/{slug}`` create a session; ``OPTIONS``/``DELETE
    /{kind}/{slug}/{session}`` end it through ``end``.
    """

    async def options(_request: web.Request) -> web.Response:
        return web.Response(status=204, headers={**cors_headers(METHODS), "Accept-Post": SDP_TYPE})

    async def options_resource(_request: web.Request) -> web.Response:
        return web.Response(status=204, headers=cors_headers(RESOURCE_METHODS))

    async def delete(request: web.Request) -> web.Response:
        slug, session_id = request.match_info["slug"], request.match_info["session"]
        try:
            session = webrtc.session(kind, slug, session_id)
        except SessionNotFound as exc:
            return fail(kind, 404, "no_session", str(exc), RESOURCE_METHODS)
        await end(session)
        return web.Response(status=204, headers=cors_headers(RESOURCE_METHODS))

    app.router.add_route("OPTIONS", f"/{kind}/{{slug}}", options)
    app.router.add_post(f"/{kind}/{{slug}}", post)
    app.router.add_route("OPTIONS", f"/{kind}/{{slug}}/{{session}}", options_resource)
    app.router.add_delete(f"/{kind}/{{slug}}/{{session}}", delete)
