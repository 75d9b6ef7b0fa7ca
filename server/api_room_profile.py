"""The room's profile, shown to fans while it is offline: a description and an image.

- ``PATCH /api/rooms/{slug}`` ``{"description", "record", "replay_access"}`` (owner): the
  description at most 2,000 characters; ``record`` (true/false, default false) records the
  room's free streams too (a show's own ``record`` decides for its streams); ``replay_access``
  (``owner``, the default, or ``public``) says who replays the recordings no show's replay tier
  covers (the owner and hosts always can).
- ``PUT /api/rooms/{slug}/image`` (owner): the raw bytes of a PNG, JPEG or WebP image of at
  most ``MAX_IMAGE_BYTES``; its type is read from its first bytes, never from the client's
  ``Content-Type``; anything else is 400 ``bad_image``, counted. ``DELETE`` removes it.
- ``GET /api/rooms/{slug}/image`` (anyone): the image, served with the sniffed type, nosniff
  and a sandboxing CSP, cacheable (its URL in the room carries ``?v=`` the time it was set).
"""

from __future__ import annotations

from aiohttp import web

from server.api_rooms import _require_role, _room, room_json
from server.errors import BadRequest, NotFound
from server.httputil import BAD_INPUT, field_text, json_response, read_json, read_raw
from server.keys import SERVICES

MAX_DESCRIPTION = 2000
REPLAY_ACCESS = ("owner", "public")
MAX_IMAGE_BYTES = 1_000_000  # under the app's 1 MiB body limit
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "public, max-age=86400"}


def image_type(data: bytes) -> str | None:
    """The image type ``data`` starts like (PNG, JPEG, WebP), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


async def edit_room(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    data = await read_json(request)
    store = request.app[SERVICES].store
    if "description" in data:
        description = field_text(data, "description", min_len=0, max_len=MAX_DESCRIPTION, required=False)
        await store.set_description(row.id, description)
    recording: dict[str, object] = {}
    if "record" in data:
        if not isinstance(data["record"], bool):
            BAD_INPUT.labels("bad_field").inc()
            raise BadRequest("'record' must be true or false", "bad_field")
        recording["record"] = data["record"]
    if "replay_access" in data:
        if data["replay_access"] not in REPLAY_ACCESS:
            BAD_INPUT.labels("bad_field").inc()
            raise BadRequest("'replay_access' must be 'owner' or 'public'", "bad_field")
        recording["replay_access"] = data["replay_access"]
    if recording:
        await store.set_recording(row.id, recording)
    fresh = await store.room_row(row.slug)
    assert fresh is not None
    return json_response(room_json(request, fresh))


async def put_image(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    data = await read_raw(request, MAX_IMAGE_BYTES)
    kind = image_type(data)
    if kind is None:
        BAD_INPUT.labels("bad_image").inc()
        raise BadRequest("the image must be a PNG, JPEG or WebP file", "bad_image")
    store = request.app[SERVICES].store
    await store.set_image(row.id, kind, data)
    fresh = await store.room_row(row.slug)
    assert fresh is not None
    return json_response(room_json(request, fresh))


async def delete_image(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    if not await request.app[SERVICES].store.delete_image(row.id):
        raise NotFound("the room has no image", "no_image")
    return web.Response(status=204)


async def get_image(request: web.Request) -> web.Response:
    row = await _room(request)
    image = await request.app[SERVICES].store.image(row.id)
    if image is None:
        raise NotFound("the room has no image", "no_image")
    kind, data = image
    return web.Response(body=data, content_type=kind, headers=IMAGE_HEADERS)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_patch("/api/rooms/{slug}", edit_room)
    r.add_put("/api/rooms/{slug}/image", put_image)
    r.add_delete("/api/rooms/{slug}/image", delete_image)
    r.add_get("/api/rooms/{slug}/image", get_image)
