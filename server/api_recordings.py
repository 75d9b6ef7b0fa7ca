"""Recordings and replay over HTTP (issue 13).

    GET /api/rooms/{slug}/recording            owner or host: the room's recording status here
                                                (state, segments, duration, gaps, error)
    GET /api/shows/{show_id}/recording         who may replay: status, duration, chapters
    DELETE /api/shows/{show_id}/recording      owner: delete it now
    PUT /api/shows/{show_id}/recording/keep    owner, {"keep": bool}: exempt it from retention
    GET /api/shows/{show_id}/recording.mp4     owner: one MP4 (a remux in the background: 202
                                                {"state", "progress"} until it is ready)
    POST /api/shows/{show_id}/clips             owner, {"start", "end"} seconds: a clip (whole
                                                segments) -> {"id", "url", "start", "duration"}
    GET /clips/{show_id}/{clip_id}/index.m3u8  anyone: the clip, and exactly the files it lists
    GET /replay/{show_id}/index.m3u8           who may replay: the recorded playlist (VOD once
                                                the show ended), every URI with the same ?vt=
    GET /replay/{show_id}/init-N.mp4, seg-N.m4s   its files, with Range requests

Who may replay (checked on every request, playlist and files alike):

* a recording no show's tiers cover (a free recording ``rec_...`` of the room's stream, or a
  show without tiers): the room's ``replay_access``: ``public``, anyone; ``owner`` (the
  default), the owner and hosts only (403 ``owner_only`` for anyone else);

* the room's owner and hosts, always (their session cookie, or a staff viewing token);
* a holder of a valid ticket whose tier includes replay, with a viewing token of the room
  (``POST /api/shows/{id}/viewing-sessions``; one device per ticket as live: a token whose
  session was taken over or revoked is refused), until the replay window closes:
  ``replay_hours`` after the show's end (``ends_at``, else the recording's end).

A VOD player fetches segments long after it read the playlist, so for replay a token counts
while its device session is the ticket's current one and it expired less than
:data:`REPLAY_TOKEN_GRACE_S` ago (the registry check is what revokes). Everyone else: 403
``{"error": "replay_needed" | "tier_without_replay" | "replay_window_closed", "message"}``,
counted in ``nal_viewing_denied_total{kind="replay"}``. No recording: 404.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from media.hls.http import PLAYLIST_TYPE, with_token
from media.hls.vod import VodParseError, parse
from server import auth
from server.access import DENIED
from server.api_shows import mapped, require_owner, room_of
from server.errors import Conflict, Forbidden, NotFound
from server.httputil import json_response, read_json
from server.keys import SERVICES
from server.recordings import CHAPTERS, CLIPS, FREE_PREFIX, read_meta, safe_show_id, window_closes
from server.show_wire import bad
from ticketing.errors import BadToken
from ticketing.errors import NotFound as TicketNotFound
from ticketing.model import Show
from ticketing.tokens import verify

if TYPE_CHECKING:
    from server.services import Services

REPLAY_TOKEN_GRACE_S = 6 * 3600
_FILE = re.compile(r"^(?:init-\d{1,6}\.mp4|seg-\d{1,7}\.m4s)$")


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def room_recording(request: web.Request) -> web.Response:
    services = _services(request)
    room = await room_of(request, request.match_info["slug"])
    identity = await auth.require_user(request)
    if identity.user_id != room.owner_id and identity.user_id not in await services.store.host_ids(room.id):
        raise Forbidden("only the room's owner and hosts see its recording", "not_staff")
    return json_response({"recording": services.recordings.status(room.slug)})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


async def _recording_dir(request: web.Request) -> tuple[Show, Path, dict[str, Any]]:
    show_id = request.match_info["show_id"]
    if not safe_show_id(show_id):
        raise NotFound("no such recording", "no_recording")
    directory = _services(request).recordings.directory(show_id)
    if show_id.startswith(FREE_PREFIX):
        meta = await asyncio.to_thread(read_meta, directory)
        if meta is None or not isinstance((meta.get("extra") or {}).get("room"), str):
            raise NotFound("no such recording", "no_recording")
        return _free_show(show_id, meta), directory, meta
    show = await _services(request).ticketing.catalog.show(show_id)
    meta = await asyncio.to_thread(read_meta, directory)
    if meta is None:
        raise NotFound("this show has no recording", "no_recording")
    return show, directory, meta


def _free_show(recording_id: str, meta: dict[str, Any]) -> Show:
    """A free recording (a room's stream no show covered) as a show without tiers, whose replay
    window is 0 h after the recording ended."""
    extra = meta.get("extra") or {}
    started = meta.get("started_at")
    return Show(id=recording_id, room_id=0, room_slug=str(extra["room"]), title=str(extra.get("title") or ""),
                starts_at=float(started) if isinstance(started, int | float) else 0.0, ends_at=None,
                currency="USD", replay_hours=0)


def _deny(reason: str, message: str) -> Forbidden:
    DENIED.labels("replay", reason).inc()
    return Forbidden(message, reason)


async def _gate(request: web.Request, show: Show, meta: dict[str, Any]) -> str | None:
    """The token to carry on (None for staff by cookie, "" for anyone on a public recording);
    403 for anyone else."""
    services = _services(request)
    room = await room_of(request, show.room_slug)
    identity = await auth.identify(request)
    if identity is not None and (identity.user_id == room.owner_id
                                 or identity.user_id in await services.store.host_ids(room.id)):
        return None
    tierless = show.id.startswith(FREE_PREFIX) or not await services.ticketing.catalog.tiers(show.id)
    if tierless and room.replay_access == "public":
        return ""
    token = request.query.get("vt")
    if not token:
        if tierless:
            raise _deny("owner_only", "the room's owner keeps this recording to the owner and hosts")
        raise _deny("replay_needed", "a viewing token of a ticket that includes replay is needed")
    access = services.access
    try:
        grant = verify(access.key, token, access.clock() - REPLAY_TOKEN_GRACE_S)
    except BadToken:
        raise _deny("replay_needed", "this viewing token is not valid") from None
    if grant.room != room.slug or await services.viewing.current(grant.ticket_id) != grant.session:
        raise _deny("replay_needed", "this viewing token is not valid here, or watches on another device")
    if grant.ticket_id.startswith("staff-") and grant.ticket_id.endswith(f"-{show.id}"):
        return token
    if tierless:
        raise _deny("owner_only", "the room's owner keeps this recording to the owner and hosts")
    try:
        ticket = await services.ticketing.sales.ticket(grant.ticket_id)
        tier = await services.ticketing.catalog.tier(show.id, ticket.tier_id)
    except TicketNotFound:
        raise _deny("replay_needed", "this ticket is not for this show") from None
    if not ticket.valid or ticket.show_id != show.id:
        raise _deny("replay_needed", "this ticket is not valid for this show")
    if not tier.replay:
        raise _deny("tier_without_replay", "this ticket's tier does not include the replay")
    closes = window_closes(show, meta)
    if closes is not None and access.clock() >= closes:
        raise _deny("replay_window_closed", "the replay window of this show has closed")
    return token


@mapped
async def replay_file(request: web.Request) -> web.StreamResponse:
    show, directory, meta = await _recording_dir(request)
    token = await _gate(request, show, meta)
    name = request.match_info["name"]
    cache = "private, no-cache" if token is None else "private, max-age=3600"
    if name == "index.m3u8":
        text = await asyncio.to_thread(_read_text, directory / name)
        if text is None:
            raise NotFound("this show has no recording", "no_recording")
        return web.Response(text=with_token(text, token) if token else text, content_type=PLAYLIST_TYPE,
                            headers={"Cache-Control": "private, no-cache"})
    if not _FILE.match(name) or not await asyncio.to_thread((directory / name).is_file):
        raise NotFound("no such file in this recording", "not_found")
    return web.FileResponse(directory / name, headers={"Cache-Control": cache, "Content-Type": "video/mp4"})


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def chapters_of(playlist_text: str | None, chapters: Any) -> list[dict[str, Any]]:
    """The setlist in media time (seconds from the start of the recording)."""
    if playlist_text is None or not isinstance(chapters, list):
        return []
    try:
        playlist = parse(playlist_text)
    except VodParseError:
        return []
    out = []
    for chapter in chapters:
        start = playlist.position_at(float(chapter.get("start") or 0))
        if start is None:
            continue
        end = chapter.get("end")
        end_at = playlist.position_at(float(end)) if isinstance(end, int | float) else None
        out.append({"title": chapter.get("title", ""), "artist": chapter.get("artist", ""),
                    "start": round(start, 3), "end": round(end_at if end_at is not None else playlist.duration, 3)})
    return out


def _export_state(request: web.Request, show_id: str, token: str | None) -> dict[str, Any] | None:
    """The MP4 export's progress, for the owner and hosts (who see the studio)."""
    job = _services(request).recordings.exports.get(show_id)
    return job.wire() if job is not None and token is None else None


@mapped
async def show_recording(request: web.Request) -> web.Response:
    show, directory, meta = await _recording_dir(request)
    token = await _gate(request, show, meta)
    text = await asyncio.to_thread(_read_text, directory / "index.m3u8")
    chapters = await asyncio.to_thread(_read_json, directory / CHAPTERS)
    closes = window_closes(show, meta)
    query = f"?vt={token}" if token else ""
    return json_response({
        "show_id": show.id, "title": show.title, "state": meta.get("state"), "duration": meta.get("duration"),
        "segments": meta.get("segments"), "gaps": meta.get("gaps"), "chapters": chapters_of(text, chapters),
        "replay_closes_at": closes, "kept": meta.get("kept"), "export": _export_state(request, show.id, token),
        "playlist_url": f"/replay/{show.id}/index.m3u8{query}",
    })


@mapped
async def export_mp4(request: web.Request) -> web.StreamResponse:
    """The owner's MP4 of the show: the file once the background remux is done, else 202 with
    its progress (the first request starts it)."""
    show, directory, meta = await _recording_dir(request)
    await require_owner(request, await room_of(request, show.room_slug))
    if meta.get("state") == "recording":
        raise Conflict("the show is still being recorded; export it once it ended", "still_recording")
    job = _services(request).recordings.export(show.id, float(meta.get("duration") or 0))
    if job.state == "done":
        return web.FileResponse(job.path, headers={
            "Cache-Control": "private, no-cache", "Content-Type": "video/mp4",
            "Content-Disposition": f'attachment; filename="{show.id}.mp4"'})
    if job.state == "failed":
        return json_response({**job.wire(), "error": "export_failed", "message": f"the export failed: {job.error}"},
                             status=500)
    return json_response(job.wire(), status=202, headers={"Retry-After": "1"})


@mapped
async def delete_recording(request: web.Request) -> web.Response:
    show, _directory, meta = await _recording_dir(request)
    await require_owner(request, await room_of(request, show.room_slug))
    services = _services(request)
    if meta.get("state") == "recording" or services.recordings.recording_of(show.id):
        raise Conflict("the show is still being recorded", "still_recording")
    deleted = await services.recordings.delete(show.id)
    return json_response({"show_id": show.id, "deleted": deleted})


@mapped
async def keep_recording(request: web.Request) -> web.Response:
    """``{"keep": true}``: retention leaves the recording alone; false: it is deleted in time."""
    show, _directory, _meta = await _recording_dir(request)
    await require_owner(request, await room_of(request, show.room_slug))
    keep = (await read_json(request)).get("keep")
    if not isinstance(keep, bool):
        raise bad("'keep' must be true or false")
    await _services(request).recordings.keep(show.id, keep)
    return json_response({"show_id": show.id, "kept": keep})


CLIP_MAX_S = 600.0
_CLIP_ID = re.compile(r"^clp_[0-9a-f]{12}$")


@mapped
async def create_clip(request: web.Request) -> web.Response:
    """``{"start", "end"}`` in seconds of the recording (owner): a short VOD over the same
    segments (whole segments, so it starts on a keyframe), public at ``url``."""
    show, directory, _meta = await _recording_dir(request)
    await require_owner(request, await room_of(request, show.room_slug))
    data = await read_json(request)
    start, end = data.get("start"), data.get("end")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, end)):
        raise bad("'start' and 'end' must be numbers of seconds")
    assert isinstance(start, int | float) and isinstance(end, int | float)
    if not 0 <= start < end or end - start > CLIP_MAX_S:
        raise bad(f"a clip needs 0 <= start < end and at most {CLIP_MAX_S:.0f} s")
    text = await asyncio.to_thread(_read_text, directory / "index.m3u8")
    try:
        clip = parse(text or "").clip(float(start), float(end))
    except VodParseError:
        raise NotFound("this show has no recording", "no_recording") from None
    if not clip.segments:
        raise bad("the recording has nothing between start and end")
    clip_id = "clp_" + secrets.token_hex(6)
    await asyncio.to_thread(_write_clip, directory, clip_id, clip.render())
    first = sum(s.duration for s in parse(text or "").segments[: _index_of(text or "", clip.segments[0].uri)])
    return json_response({"id": clip_id, "show_id": show.id, "start": round(first, 3),
                          "duration": round(clip.duration, 3),
                          "url": f"/clips/{show.id}/{clip_id}/index.m3u8"}, status=201)


def _index_of(text: str, uri: str) -> int:
    return [s.uri for s in parse(text).segments].index(uri)


def _write_clip(directory: Path, clip_id: str, text: str) -> None:
    (directory / CLIPS).mkdir(exist_ok=True)
    temp = directory / CLIPS / f"{clip_id}.m3u8.tmp"
    temp.write_text(text)
    temp.replace(directory / CLIPS / f"{clip_id}.m3u8")


async def clip_file(request: web.Request) -> web.StreamResponse:
    """A clip is public: its playlist and exactly the files it lists."""
    show_id, clip_id, name = (request.match_info[k] for k in ("show_id", "clip_id", "name"))
    if not safe_show_id(show_id) or not _CLIP_ID.match(clip_id):
        raise NotFound("no such clip", "no_clip")
    directory = _services(request).recordings.directory(show_id)
    text = await asyncio.to_thread(_read_text, directory / CLIPS / f"{clip_id}.m3u8")
    if text is None:
        raise NotFound("no such clip", "no_clip")
    if name == "index.m3u8":
        return web.Response(text=text, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "public, max-age=60"})
    listed = {s.uri for s in parse(text).segments} | {s.map_uri for s in parse(text).segments if s.map_uri}
    if name not in listed or not _FILE.match(name):
        raise NotFound("not in this clip", "not_found")
    return web.FileResponse(directory / name, headers={"Cache-Control": "public, max-age=3600",
                                                       "Content-Type": "video/mp4"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/rooms/{slug}/recording", room_recording)
    app.router.add_get("/api/shows/{show_id}/recording", show_recording)
    app.router.add_delete("/api/shows/{show_id}/recording", delete_recording)
    app.router.add_put("/api/shows/{show_id}/recording/keep", keep_recording)
    app.router.add_get("/api/shows/{show_id}/recording.mp4", export_mp4)
    app.router.add_get("/replay/{show_id}/{name}", replay_file)
    app.router.add_post("/api/shows/{show_id}/clips", create_clip)
    app.router.add_get("/clips/{show_id}/{clip_id}/{name}", clip_file)
