"""Restream targets over HTTP (owner only): YouTube, Twitch and custom RTMP(S) endpoints.

    POST   /api/rooms/{slug}/restreams        {"platform", "key", "url"?, "ingest"?, "enabled"?}
    GET    /api/rooms/{slug}/restreams        targets with their live status
    PATCH  /api/rooms/{slug}/restreams/{id}   enable, disable, new key, other ingest
    DELETE /api/rooms/{slug}/restreams/{id}

Custom URLs pass the relay's destination policy (:mod:`relay.destination`): loopback,
private, link-local, multicast and reserved addresses and this server's own listeners are
refused (400 ``destination_not_allowed``; ``--relay-allow-private`` opens loopback and
private ranges), and a room has at most ``--relay-max-targets`` targets (409
``too_many_targets``). The host is resolved and checked again at every connection.

Stream keys are write-only: every answer carries ``key_masked`` (``****wxyz``) and never the
key itself; they are sealed at rest (:mod:`relay.keybox`). The services' (:mod:`server.services`)
:class:`relay.supervisor.RelaySupervisor` publishes the enabled targets while the room is
live; these handlers tell it of every change. Its state changes go through the router
(:class:`server.router.RelayStateChanged`) to the room as ``restream.state`` events.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from relay import metrics as relay_metrics
from relay.errors import BadDestination, ForbiddenDestination, TargetConfigError, TooManyTargets
from relay.store import TargetRow, TargetStore
from server import auth
from server.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from server.httputil import BAD_INPUT, json_response, read_json
from server.keys import SERVICES
from server.store import RoomRow

log = logging.getLogger("notalabel.relay")

TARGETS: web.AppKey[TargetStore] = web.AppKey("restream_targets", TargetStore)
CREATE_FIELDS = frozenset({"platform", "key", "url", "ingest", "enabled"})


async def _owned_room(request: web.Request) -> RoomRow:
    identity = await auth.require_user(request)
    row: RoomRow | None = await request.app[SERVICES].store.room_row(request.match_info["slug"])
    if row is None:
        raise NotFound("no such room", "no_room")
    if identity.user_id != row.owner_id:
        raise Forbidden("only the room's owner manages restream targets")
    return row


def target_json(request: web.Request, row: TargetRow) -> dict[str, Any]:
    status = request.app[SERVICES].relay.status(row.id)
    return {"id": row.id, "platform": row.platform.value, "ingest": row.ingest, "url": row.url,
            "key_masked": row.key_hint, "enabled": row.enabled, "created_at": row.created_at,
            "updated_at": row.updated_at, "status": status}


def _config_error(err: TargetConfigError) -> ApiError:
    """The answer to a target we will not save, counted (a refused destination by its rule)."""
    if isinstance(err, TooManyTargets):
        BAD_INPUT.labels("too_many_targets").inc()
        return Conflict(str(err), "too_many_targets")
    if isinstance(err, BadDestination):
        relay_metrics.DESTINATION_REFUSED.labels("create", err.rule).inc()
    if isinstance(err, ForbiddenDestination):
        BAD_INPUT.labels("destination_not_allowed").inc()
        return BadRequest(str(err), "destination_not_allowed")
    BAD_INPUT.labels("bad_field").inc()
    return BadRequest(str(err), "bad_target")


def _target_id(request: web.Request) -> int:
    raw = request.match_info["target_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise NotFound("no such restream target", "no_target")
    return int(raw)


async def create_target(request: web.Request) -> web.Response:
    room = await _owned_room(request)
    data = await read_json(request)
    unknown = data.keys() - CREATE_FIELDS
    if unknown:
        raise _config_error(TargetConfigError(f"unknown fields: {', '.join(sorted(unknown))}"))
    enabled = data.get("enabled", True)
    try:
        if not isinstance(enabled, bool):
            raise TargetConfigError("'enabled' must be true or false")
        for name in ("url", "ingest"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise TargetConfigError(f"{name!r} must be a string")
        row = await request.app[TARGETS].create(room.id, data.get("platform"), data.get("key"),
                                                url=data.get("url"), ingest=data.get("ingest"), enabled=enabled)
    except TargetConfigError as err:
        raise _config_error(err) from None
    log.info("restream target added", extra={"room": room.slug, "target": row.id,
                                              "platform": row.platform.value, "key": row.key_hint})
    await _tell_supervisor(request, row.id)
    return json_response(target_json(request, row), status=201)


async def list_targets(request: web.Request) -> web.Response:
    room = await _owned_room(request)
    rows = await request.app[TARGETS].for_room(room.id)
    return json_response({"restreams": [target_json(request, r) for r in rows]})


async def update_target(request: web.Request) -> web.Response:
    room = await _owned_room(request)
    target_id = _target_id(request)
    data = await read_json(request)
    unknown = data.keys() - CREATE_FIELDS
    if unknown:
        raise _config_error(TargetConfigError(f"unknown fields: {', '.join(sorted(unknown))}"))
    try:
        row = await request.app[TARGETS].update(room.id, target_id, data)
    except TargetConfigError as err:
        raise _config_error(err) from None
    if row is None:
        raise NotFound("no such restream target", "no_target")
    log.info("restream target changed", extra={"room": room.slug, "target": row.id,
                                                "fields": sorted(data), "enabled": row.enabled})
    await _tell_supervisor(request, row.id)
    return json_response(target_json(request, row))


async def delete_target(request: web.Request) -> web.Response:
    room = await _owned_room(request)
    target_id = _target_id(request)
    if not await request.app[TARGETS].delete(room.id, target_id):
        raise NotFound("no such restream target", "no_target")
    log.info("restream target removed", extra={"room": room.slug, "target": target_id})
    await _tell_supervisor(request, target_id)
    return web.Response(status=204)


async def _tell_supervisor(request: web.Request, target_id: int) -> None:
    await request.app[SERVICES].relay.target_changed(target_id)


def setup(app: web.Application) -> None:
    app[TARGETS] = app[SERVICES].targets
    r = app.router
    r.add_post("/api/rooms/{slug}/restreams", create_target)
    r.add_get("/api/rooms/{slug}/restreams", list_targets)
    r.add_patch("/api/rooms/{slug}/restreams/{target_id}", update_target)
    r.add_delete("/api/rooms/{slug}/restreams/{target_id}", delete_target)
