"""Rooms over HTTP: create, list, read, rotate the stream key, end the stream, hosts and the
song catalog.

Authorization: anyone may read a room; only signed-in users create rooms; only the owner
rotates keys, ends the stream and manages hosts; the owner and hosts manage the song catalog.
Rotating the key ends a live stream (its publisher used the old key).

Limits (server/quotas.py): room creation is rationed per account and per address and an
account owns at most ``max_rooms_per_account`` rooms; a catalog holds at most
``max_songs_per_room`` songs and is read a page at a time (``?limit=&cursor=``).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rooms.errors import RoomsError
from rooms.ports import Identity
from server import auth, quotas
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.httputil import (
    BAD_INPUT,
    REFUSED,
    field_int,
    field_str,
    field_text,
    json_response,
    read_json,
)
from server.keys import SERVICES, SETTINGS
from server.live import STREAM_END
from server.room_reads import live_summary
from server.store import RoomRow

if TYPE_CHECKING:
    from server.services import Services  # services imports the route modules

log = logging.getLogger("notalabel.rooms")

ISWC_RE = re.compile(r"^T-?\d{3}\.?\d{3}\.?\d{3}-?\d$")
LATENCY_CLASSES = ("standard", "realtime")
SONGS_PAGE = 100
SONGS_PAGE_MAX = 200


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _room(request: web.Request) -> RoomRow:
    row: RoomRow | None = await _services(request).store.room_row(request.match_info["slug"])
    if row is None:
        raise NotFound("no such room", "no_room")
    return row


def room_urls(request: web.Request, slug: str) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    base = settings.base_url
    ws_base = base.replace("http", "ws", 1)
    return {
        "ingest": {
            "rtmp": {"server": settings.rtmp_url, "url": settings.rtmp_url},
            "whip": {"url": f"{base}/whip/{slug}"},
        },
        "playback": {
            "watch": f"{base}/watch/{slug}",
            "hls": f"{base}/live/{slug}/index.m3u8",
            "whep": f"{base}/whep/{slug}",
            "socket": f"{ws_base}/ws/rooms/{slug}",
        },
        "studio": f"{base}/studio/{slug}",
        "moderate": f"{base}/moderate/{slug}",
    }


def room_json(request: web.Request, row: RoomRow) -> dict[str, Any]:
    base = request.app[SETTINGS].base_url
    image = f"{base}/api/rooms/{row.slug}/image?v={int(row.image_at * 1000)}" if row.image_at is not None else None
    return {"slug": row.slug, "title": row.title, "owner": row.owner, "latency_class": row.latency_class,
            "created_at": row.created_at, "description": row.description, "image_url": image,
            "record": row.record, "replay_access": row.replay_access, **room_urls(request, row.slug)}


async def create_room(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    data = await read_json(request)
    title = field_text(data, "title", max_len=200)
    latency = data.get("latency_class", "standard")
    if latency not in LATENCY_CLASSES:
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest("latency_class must be 'standard' or 'realtime'", "bad_field")
    await _check_room_quota(request, identity.user_id)
    quotas.take_room_creation(request, identity.user_id)
    row, key = await _services(request).store.create_room(identity.user_id, title, latency)
    body = room_json(request, row)
    body["stream_key"] = key
    body["ingest"]["rtmp"]["stream_key"] = key
    body["ingest"]["whip"]["token"] = key
    body.update(await _overlay(request, row))
    return json_response(body, status=201)


async def _check_room_quota(request: web.Request, user_id: int) -> None:
    most = request.app[SETTINGS].max_rooms_per_account
    if most > 0 and await _services(request).store.rooms_owned(user_id) >= most:
        REFUSED.labels("room_quota").inc()
        raise Conflict(f"an account may own at most {most} rooms", "room_quota")


async def list_rooms(request: web.Request) -> web.Response:
    """The newest rooms, each with ``live`` (true while live or reconnecting), ``stream_state``
    and ``viewers`` (fans watching now, 0 when offline) read from the rooms' shared events."""
    services = _services(request)
    rooms = []
    for row in await services.store.list_rooms():
        body = room_json(request, row)
        try:
            state, viewers = await live_summary(services.bus, row.slug)
        except RoomsError:  # the bus is down: the list still answers, every room as offline
            state, viewers = "offline", 0
        body.update(live=state != "offline", stream_state=state, viewers=viewers)
        rooms.append(body)
    return json_response({"rooms": rooms})


async def get_room(request: web.Request) -> web.Response:
    row = await _room(request)
    identity = await auth.identify(request)
    body = room_json(request, row)
    body["role"] = await _role(request, row, identity)
    if body["role"] == "owner":
        body.update(await _overlay(request, row))
    return json_response(body)


async def _overlay(request: web.Request, row: RoomRow) -> dict[str, Any]:
    """The owner's view of the OBS overlay: its secret key and the URL to paste into OBS."""
    return overlay_json(request, row.slug, await _services(request).store.overlay_key(row.id))


def overlay_json(request: web.Request, slug: str, key: str) -> dict[str, Any]:
    base = request.app[SETTINGS].base_url
    return {"overlay_key": key, "overlay_url": f"{base}/overlay/{slug}?key={key}"}


async def _role(request: web.Request, row: RoomRow, identity: Identity | None) -> str:
    if identity is None:
        return "guest"
    if identity.user_id == row.owner_id:
        return "owner"
    if identity.user_id in await _services(request).store.host_ids(row.id):
        return "host"
    return "fan"


async def _require_role(request: web.Request, row: RoomRow, allowed: tuple[str, ...]) -> Identity:
    identity = await auth.require_user(request)
    role = await _role(request, row, identity)
    if role not in allowed:
        raise Forbidden(f"only the room's {' or '.join(allowed)} may do this")
    return identity


async def rotate_key(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    services = _services(request)
    key = await services.store.rotate_key(row.id)
    ended = await _end_stream(services, row.slug, "key_rotated")
    return json_response({"stream_key": key, "stream_ended": ended})


async def end_stream(request: web.Request) -> web.Response:
    """``POST /api/rooms/{slug}/stream/end``: the owner stops the show now (no reconnect
    grace). The key stays valid; rotate it to keep a publisher from coming back."""
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    ended = await _end_stream(_services(request), row.slug, "ended")
    return json_response({"slug": row.slug, "state": "offline", "ended": ended})


async def _end_stream(services: Services, slug: str, reason: str) -> bool:
    """End the stream if this node holds it, and tell every node (the one holding it ends it);
    True when it was held here. A bus outage leaves other nodes' streams running (logged)."""
    ended: bool = await services.live.end_stream(slug)
    try:
        await services.gateway.publish_system(slug, STREAM_END, {"reason": reason}, None)
    except RoomsError:
        log.warning("stream.end not published", extra={"room": slug}, exc_info=True)
    return ended


async def list_hosts(request: web.Request) -> web.Response:
    row = await _room(request)
    return json_response({"hosts": await _services(request).store.host_names(row.id)})


async def add_host(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    data = await read_json(request)
    username = field_str(data, "username", max_len=32)
    store = _services(request).store
    user_id = await store.user_id(username)
    if user_id is None:
        raise NotFound("no such user", "no_user")
    if user_id == row.owner_id:
        raise BadRequest("the owner is already in charge of the room", "is_owner")
    created = await store.add_host(row.id, user_id)
    await _services(request).room_changed(row.slug)
    return json_response({"hosts": await store.host_names(row.id)}, status=201 if created else 200)


async def remove_host(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner",))
    store = _services(request).store
    user_id = await store.user_id(request.match_info["username"])
    if user_id is None or not await store.remove_host(row.id, user_id):
        raise NotFound("that user is not a host here", "not_host")
    await _services(request).room_changed(row.slug)
    return web.Response(status=204)


def parse_song(data: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Validate a catalog entry; writers' shares are basis points summing to 10,000."""
    song: dict[str, Any] = {}
    if not partial or "title" in data:
        song["title"] = field_text(data, "title", max_len=200)
    if not partial or "artist" in data:
        song["artist"] = field_text(data, "artist", min_len=0, max_len=200, required=False)
    if not partial or "iswc" in data:
        iswc = data.get("iswc")
        if iswc is not None and (not isinstance(iswc, str) or not ISWC_RE.match(iswc)):
            BAD_INPUT.labels("bad_field").inc()
            raise BadRequest("iswc must look like T-345.246.800-1", "bad_field")
        song["iswc"] = iswc
    if not partial or "writers" in data:
        song["writers"] = _writers(data.get("writers", []))
    return song


def _writers(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > 50:
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest("writers must be a list of at most 50 entries", "bad_field")
    writers: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("each writer is an object", "bad_field")
        writer: dict[str, Any] = {"name": field_str(item, "name", max_len=200),
                  "share_bps": field_int(item, "share_bps", lo=1, hi=10_000)}
        for opt in ("ipi", "pro", "publisher", "role"):
            if item.get(opt) is not None:
                writer[opt] = field_str(item, opt, max_len=200)
        writers.append(writer)
    if writers and sum(w["share_bps"] for w in writers) != 10_000:
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest("writers' share_bps must sum to 10000", "bad_split")
    return writers


def _page(request: web.Request) -> tuple[int, int]:
    """``?limit=`` (1 to SONGS_PAGE_MAX, default SONGS_PAGE) and ``?cursor=`` (a ``next_cursor``)."""
    raw_limit, cursor = request.query.get("limit", str(SONGS_PAGE)), request.query.get("cursor", "0")
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= SONGS_PAGE_MAX:
        BAD_INPUT.labels("bad_query").inc()
        raise BadRequest(f"limit must be an integer from 1 to {SONGS_PAGE_MAX}", "bad_query")
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        BAD_INPUT.labels("bad_query").inc()
        raise BadRequest("cursor must be a next_cursor from an earlier page", "bad_query")
    return int(raw_limit), int(cursor)


async def list_songs(request: web.Request) -> web.Response:
    """One page of the catalog in id order; ``next_cursor`` is null on the last page."""
    row = await _room(request)
    limit, after_id = _page(request)
    songs = await _services(request).store.songs(row.id, after_id=after_id, limit=limit + 1)
    next_cursor = str(songs[limit - 1]["id"]) if len(songs) > limit else None
    return json_response({"songs": songs[:limit], "next_cursor": next_cursor})


async def add_song(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner", "host"))
    song = parse_song(await read_json(request))
    most = request.app[SETTINGS].max_songs_per_room
    created = await _services(request).store.add_song(row.id, song, max_songs=most)
    if created is None:
        REFUSED.labels("catalog_full").inc()
        raise Conflict(f"a room's catalog holds at most {most} songs; remove one first", "catalog_full")
    return json_response(created, status=201)


def _song_id(request: web.Request) -> int:
    raw = request.match_info["song_id"]
    if not (raw.isascii() and raw.isdigit()):
        raise NotFound("no such song", "no_song")
    return int(raw)


async def update_song(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner", "host"))
    song = parse_song(await read_json(request), partial=True)
    updated = await _services(request).store.update_song(row.id, _song_id(request), song)
    if updated is None:
        raise NotFound("no such song", "no_song")
    return json_response(updated)


async def delete_song(request: web.Request) -> web.Response:
    row = await _room(request)
    await _require_role(request, row, ("owner", "host"))
    if not await _services(request).store.delete_song(row.id, _song_id(request)):
        raise NotFound("no such song", "no_song")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    quotas.setup(app)
    r = app.router
    r.add_post("/api/rooms", create_room)
    r.add_get("/api/rooms", list_rooms)
    r.add_get("/api/rooms/{slug}", get_room)
    r.add_post("/api/rooms/{slug}/stream-key", rotate_key)
    r.add_post("/api/rooms/{slug}/stream/end", end_stream)
    r.add_get("/api/rooms/{slug}/hosts", list_hosts)
    r.add_post("/api/rooms/{slug}/hosts", add_host)
    r.add_delete("/api/rooms/{slug}/hosts/{username}", remove_host)
    r.add_get("/api/rooms/{slug}/songs", list_songs)
    r.add_post("/api/rooms/{slug}/songs", add_song)
    r.add_patch("/api/rooms/{slug}/songs/{song_id}", update_song)
    r.add_delete("/api/rooms/{slug}/songs/{song_id}", delete_song)
