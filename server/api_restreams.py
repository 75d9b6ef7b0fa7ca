"""Restream targets over HTTP (owner only): YouTube, Twitch and custom RTMP(S) endpoints.

    POST   /api/rooms/{slug}/restreams        {"platform", "key", "url"?, "ingest"?, "enabled"?}
    GET    /api/rooms/{slug}/restreams        targets with their live status
    PATCH  /api/rooms/{slug}/restreams/{id}   enable, disable, new key, other ingest
    DELETE /api/rooms/{slug}/restreams/{id}

Stream keys are write-only: every answer carries ``key_masked`` (``****wxyz``) and never the
key itself; they are sealed at rest (:mod:`relay.keybox`). When the runtime has a media hub,
this module also starts the :class:`relay.supervisor.RelaySupervisor` that publishes the
enabled targets while the room is live; its state changes go to the room as
``restream.state`` events (through the gateway) and to every callable in
``runtime.extra["on_relay_state"]`` (``fn(slug, status_dict)``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from aiohttp import web

from relay.errors import TargetConfigError
from relay.keybox import KeyBox
from relay.store import TargetRow, TargetStore
from relay.supervisor import RelaySupervisor
from server import auth
from server.errors import BadRequest, Forbidden, NotFound
from server.httputil import BAD_INPUT, json_response, read_json
from server.keys import ENGINE, RUNTIME, SETTINGS
from server.store import RoomRow

log = logging.getLogger("notalabel.relay")

TARGETS: web.AppKey[TargetStore] = web.AppKey("restream_targets", TargetStore)
SUPERVISOR_KEY = "relay"  # runtime.extra[SUPERVISOR_KEY] holds the supervisor when media runs
CREATE_FIELDS = frozenset({"platform", "key", "url", "ingest", "enabled"})


async def _owned_room(request: web.Request) -> RoomRow:
    identity = await auth.require_user(request)
    row: RoomRow | None = await request.app[RUNTIME].store.room_row(request.match_info["slug"])
    if row is None:
        raise NotFound("no such room", "no_room")
    if identity.user_id != row.owner_id:
        raise Forbidden("only the room's owner manages restream targets")
    return row


def _supervisor(request: web.Request) -> Any:
    return request.app[RUNTIME].extra.get(SUPERVISOR_KEY)


def target_json(request: web.Request, row: TargetRow) -> dict[str, Any]:
    supervisor = _supervisor(request)
    status = supervisor.status(row.id) if supervisor is not None else {"state": "idle"}
    return {"id": row.id, "platform": row.platform.value, "ingest": row.ingest, "url": row.url,
            "key_masked": row.key_hint, "enabled": row.enabled, "created_at": row.created_at,
            "updated_at": row.updated_at, "status": status}


def _config_error(err: TargetConfigError) -> BadRequest:
    BAD_INPUT.labels("bad_field").inc()
    return BadRequest(str(err), "bad_target")


def _target_id(request: web.Request) -> int:
    raw = request.match_info["target_id"]
    if not raw.isdigit() or len(raw) > 12:
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
    supervisor = _supervisor(request)
    if supervisor is not None:
        await supervisor.target_changed(target_id)


async def _start_supervisor(app: web.Application) -> None:
    runtime = app[RUNTIME]
    if runtime.hub is None or SUPERVISOR_KEY in runtime.extra:
        return

    tasks: set[asyncio.Task[None]] = set()
    changes = itertools.count()

    def on_state(slug: str, status: dict[str, Any]) -> None:
        for listener in runtime.extra.get("on_relay_state", []):
            listener(slug, status)
        if runtime.gateway is not None:
            key = f"restream:{slug}:{status['id']}:{status['state']}:{next(changes)}:{time.time()}"
            task = asyncio.create_task(_publish(runtime, slug, status, key))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    supervisor = RelaySupervisor(runtime.hub, app[TARGETS], on_state=on_state,
                                 ca_bundle=app[SETTINGS].relay_ca_bundle or None)
    supervisor.attach()
    runtime.extra[SUPERVISOR_KEY] = supervisor


PUBLIC_STATUS = ("id", "platform", "state", "next_attempt_at")


async def _publish(runtime: Any, slug: str, status: dict[str, Any], key: str) -> None:
    """A target's state change as the room event ``restream.state``.

    Room events reach every fan, so they carry only the public part (which platform, live or
    not). Reasons (the ingest server's own words), byte counts and URLs stay behind the
    owner-only ``GET /api/rooms/{slug}/restreams``.
    """
    public = {k: status[k] for k in PUBLIC_STATUS if k in status}
    try:
        await runtime.gateway.publish_system(slug, "restream.state", public, key)
    except Exception:  # noqa: BLE001 - a bus outage must not touch the relay
        log.warning("restream.state not published", extra={"room": slug}, exc_info=True)


async def _stop_supervisor(app: web.Application) -> None:
    supervisor = app[RUNTIME].extra.pop(SUPERVISOR_KEY, None)
    if supervisor is not None:
        await supervisor.close()


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[TARGETS] = TargetStore(app[ENGINE], KeyBox.from_settings(settings.data_dir, settings.secret_key))
    app.on_startup.append(_start_supervisor)
    app.on_shutdown.append(_stop_supervisor)
    r = app.router
    r.add_post("/api/rooms/{slug}/restreams", create_target)
    r.add_get("/api/rooms/{slug}/restreams", list_targets)
    r.add_patch("/api/rooms/{slug}/restreams/{target_id}", update_target)
    r.add_delete("/api/rooms/{slug}/restreams/{target_id}", delete_target)
