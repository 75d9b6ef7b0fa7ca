"""The OBS overlay: a per-room secret key, the page ``/overlay/{slug}?key=...``, a test alert.

The key only lets a browser source watch the room (the room socket accepts ``?key=`` as
read-only access); it is shown to the owner, who can rotate it. A wrong or missing key gets
403 with nothing of the room in it, and is counted (``nal_bad_input_total{kind="overlay_key"}``).

Display options are the page's own query parameters (static/overlay.js): ``display`` and
``gap`` (seconds), ``min`` (minor units: smaller tips and boosts show no alert), ``chat=1``.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from server.api_rooms import _require_role, _room, overlay_json
from server.api_tips import money_settings
from server.errors import Forbidden
from server.httputil import (
    BAD_INPUT,
    field_int,
    field_str,
    json_response,
    read_json_if_any,
)
from server.keys import SERVICES
from server.pages import SECURITY_HEADERS, STATIC
from server.store import RoomRow

PAGE_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer"}
TEST_ALERT_DEFAULT = 500
TEST_ALERT_MAX = 10**9


async def key_matches(request: web.Request, row: RoomRow, given: str | None) -> bool:
    """Whether ``given`` is the room's overlay key; a miss is counted."""
    key = await request.app[SERVICES].store.overlay_key(row.id)
    if given is not None and hmac.compare_digest(given.encode(), key.encode()):
        return True
    BAD_INPUT.labels("overlay_key").inc()
    return False


async def overlay_page(request: web.Request) -> web.StreamResponse:
    row = await request.app[SERVICES].store.room_row(request.match_info["slug"])
    if row is None:
        BAD_INPUT.labels("overlay_key").inc()
        raise Forbidden("wrong overlay key", "bad_overlay_key")
    if not await key_matches(request, row, request.query.get("key")):
        raise Forbidden("wrong overlay key", "bad_overlay_key")
    return web.FileResponse(STATIC / "overlay.html", headers=PAGE_HEADERS)


async def rotate_overlay_key(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    key = await request.app[SERVICES].store.rotate_overlay_key(row.id)
    return json_response(overlay_json(request, row.slug, key))


async def test_alert(request: web.Request) -> web.Response:
    """Publish an ``alert.test`` room event: only the overlay page shows it."""
    row = await _room(request)
    identity = await _require_role(request, row, ("owner",))
    data = await read_json_if_any(request)
    amount = field_int(data, "amount", lo=1, hi=TEST_ALERT_MAX) if "amount" in data else TEST_ALERT_DEFAULT
    message = field_str(data, "message", min_len=0, max_len=200, required=False,
                        default="This is a test alert")
    currency = (await money_settings(request, row.id))["currency"]
    alert = {"id": secrets.token_hex(8), "from": identity.username, "amount": amount,
             "currency": currency, "message": message}
    await request.app[SERVICES].gateway.publish_system(row.slug, "alert.test", alert)
    return json_response({"id": alert["id"]}, status=202)


def setup(app: web.Application) -> None:
    app.router.add_get("/overlay/{slug}", overlay_page)
    app.router.add_post("/api/rooms/{slug}/overlay-key", rotate_overlay_key)
    app.router.add_post("/api/rooms/{slug}/overlay/test-alert", test_alert)
