"""aiohttp handlers serving LL-HLS from memory at ``/live/{slug}/...``.

Names under ``/live/{slug}/``:

* ``index.m3u8``: the media playlist (``application/vnd.apple.mpegurl``). Plain requests
  may be cached for a second (:data:`PLAYLIST_CACHE`); blocking reloads (``_HLS_msn``, ``_HLS_part``) wait for the part, answer
  400 when the request is more than two segments ahead (RFC 8216bis section 6.2.5.2) and 503
  when it does not appear within three target durations; their answers are cacheable.
* ``init.mp4``: the current init segment (``no-cache``: a new stream may change it).
* ``{prefix}init-{n}.mp4``, ``{prefix}seg-{msn}.m4s``, ``{prefix}part-{msn}-{i}.m4s``: the
  names the playlist uses; ``prefix`` is unique per stream instance, so these are immutable.
  A request for the part named in EXT-X-PRELOAD-HINT waits until it is written.

A room whose stream another node holds is served through ``HlsService.elsewhere`` (an
LL-HLS edge, :mod:`media.hls.edge`) with the origin's answers and cache headers. No answer
depends on a request header (no compression, ``Access-Control-Allow-Origin: *``), so none
needs ``Vary``; the blocking-reload query is part of the URL a cache keys on.

Access (tickets): the server may pass ``access(slug, tokens)``, asked before anything else
with the request's viewing tokens: the ``?vt=`` query's, then the ``nal_vt`` cookie's
(:data:`TOKEN_COOKIE`). ``None``: the room is open, served as above. ``False``: 403
``{"error": "viewing token needed"}``, counted. A token (the first one that holds): served,
and the playlist lists every URI (segments, parts, maps, the preload hint) with ``?vt=`` that
token so any player (native HLS, hls.js, our MSE player) keeps sending it; such answers are
``private``. The cookie is for native HLS: the video element reloads the playlist address it
was given, whose token expires within a minute, while the page's heartbeat keeps the cookie's
token fresh; the playlist it gets back then lists the fresh token.

Errors are JSON. Unknown room: 404 ``{"error": "unknown room"}``. A known room that is not
live: 404 ``{"error": "offline"}`` with ``Cache-Control: no-store`` and ``Retry-After: 5``.
404 is what players treat as "not there (yet)" (hls.js and AVPlayer retry the manifest or
report it, and the watch page follows ``stream.state`` to start playback when the stream goes
live); a 503 would make CDNs and some players back off for minutes. A live stream whose first
three segments are not complete yet (the segmenter's startup rule) holds the playlist request
up to :data:`STARTUP_WAIT` seconds, then answers 503 with ``Retry-After: 1``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from prometheus_client import Counter

from media.hls.segmenter import SegmenterConfig
from media.hls.service import HlsMuxer, HlsService, PlaylistAsked
from media.hub import Hub

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
MEDIA_TYPE = "video/mp4"
IMMUTABLE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=1"
"""A plain playlist request: a CDN or edge may answer it for a second (players that follow
the live edge use blocking reloads, which are cached per query)."""
STARTUP_WAIT = 10.0
"""Seconds a playlist request waits for a stream that just started (three 1 s to 3 s GOPs)."""

HLS_SERVICE = web.AppKey("hls_service", HlsService)
REQUESTS = Counter("nal_hls_requests_total", "LL-HLS HTTP requests.", ["kind", "status"])

NAME = re.compile(
    r"^(?P<prefix>[0-9a-z]+-)(?:init-(?P<init>\d+)\.mp4|seg-(?P<seg>\d+)\.m4s"
    r"|part-(?P<pmsn>\d+)-(?P<part>\d+)\.m4s)$"
)

RoomExists = Callable[[str], Awaitable[bool]]
Access = Callable[[str, "tuple[str, ...]"], Awaitable["str | Literal[False] | None"]]
"""``access(slug, tokens)``: None (open room), False (refused) or the token that holds."""
TOKEN_PARAM = "vt"
TOKEN_COOKIE = "nal_vt"
_URI_ATTR = re.compile(r'URI="([^"]+)"')


def setup_routes(
    app: web.Application,
    hub: Hub,
    room_exists: RoomExists,
    *,
    config: SegmenterConfig | None = None,
    access: Access | None = None,
) -> HlsService:
    """Add ``GET /live/{slug}/{name}`` and ``GET /live/{slug}/vt/{token}/{name}`` to ``app``;
    the service stops with the app.

    The second carries a viewing token in the path: the playlist served there lists its URIs
    as they are, relative, so a player resolving them against the playlist's address sends
    the token on every request without the playlist repeating it (``?vt=``'s playlist lists
    every URI with the token: several kilobytes more on each reload)."""
    service = HlsService(hub, config)
    app[HLS_SERVICE] = service
    handler = _Handler(service, room_exists, access)
    app.router.add_get("/live/{slug}/{name}", handler.handle)
    app.router.add_get("/live/{slug}/" + TOKEN_PARAM + "/{token}/{name}", handler.handle)

    async def close(_: web.Application) -> None:
        await service.close()

    app.on_cleanup.append(close)
    return service


def _json_error(status: int, error: str, **headers: str) -> web.Response:
    response = web.json_response({"error": error}, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers)
    return response


def _media(body: bytes, cache_control: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=MEDIA_TYPE,
        headers={"Cache-Control": cache_control, "Access-Control-Allow-Origin": "*"},
    )


class _Handler:
    def __init__(self, service: HlsService, room_exists: RoomExists, access: Access | None) -> None:
        self._service = service
        self._room_exists = room_exists
        self._access = access

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        slug, name = request.match_info["slug"], request.match_info["name"]
        kind = kind_of(name)
        allowed = await self._access(slug, _tokens(request)) if self._access is not None else None
        if allowed is False:
            response: web.StreamResponse = _json_error(403, "viewing token needed")
        else:
            if allowed and request.query.get(TOKEN_PARAM) != allowed:  # the cookie's: an edge passes it on
                request = request.clone(rel_url=request.rel_url.update_query({TOKEN_PARAM: allowed}))
            listed = allowed if "token" not in request.match_info else None  # in the path: relative URIs carry it
            response = await self._dispatch(request, slug, name, listed)
            if allowed and "Cache-Control" in response.headers and response.status == 200:
                response.headers["Cache-Control"] = private(response.headers["Cache-Control"])
        count(kind, response.status)
        if kind == "playlist" and response.status == 200 and self._service.on_playlist is not None:
            headers = request.headers
            self._service.on_playlist(PlaylistAsked(
                slug, arrived, allowed or request.match_info.get("token") or request.query.get(TOKEN_PARAM),
                headers.get("User-Agent", ""),
                headers.get("Cookie", ""), str(request.remote)))
        return response

    async def _dispatch(self, request: web.Request, slug: str, name: str,
                        token: str | None = None) -> web.StreamResponse:
        muxer = self._service.get(slug)
        if muxer is None:
            elsewhere = self._service.elsewhere
            if elsewhere is not None and (pulled := await elsewhere(request, slug, name)) is not None:
                return pulled
            if not await self._room_exists(slug):
                return _json_error(404, "unknown room")
            return _json_error(404, "offline", **{"Retry-After": "5"})
        if name == "index.m3u8":
            return await _playlist(request, muxer, token)
        if name == "init.mp4":
            init = muxer.segmenter.latest_init()
            return _media(init, "no-cache") if init else _json_error(404, "no init segment yet")
        match = NAME.match(name)
        if match is None or match["prefix"] != muxer.segmenter.prefix:
            return _json_error(404, "not found")
        if match["init"] is not None:
            body = muxer.segmenter.inits.get(int(match["init"]))
            return _media(body, IMMUTABLE) if body else _json_error(404, "not found")
        if match["seg"] is not None:
            segment = muxer.segmenter.segment(int(match["seg"]))
            if segment is None or segment.data is None:
                return _json_error(404, "not found")
            return _media(segment.data, IMMUTABLE)
        return await _part(muxer, int(match["pmsn"]), int(match["part"]))


_COUNTERS: dict[tuple[str, int], Counter] = {}


@functools.lru_cache(maxsize=256)
def private(cache: str) -> str:
    """The ``Cache-Control`` of an answer served with a viewing token: ``private``, said once
    (an edge's answer is private already: the origin made it so)."""
    cache = cache.removeprefix("public, ")
    return cache if cache.startswith("private") else "private, " + cache


def count(kind: str, status: int, amount: int = 1) -> None:
    """``nal_hls_requests_total{kind, status}`` += ``amount`` (the labelled child looked up once)."""
    counter = _COUNTERS.get((kind, status))
    if counter is None:
        counter = _COUNTERS[kind, status] = REQUESTS.labels(kind, str(status))
    counter.inc(amount)


def _tokens(request: web.Request) -> tuple[str, ...]:
    """The path's viewing token, the query's ``vt``, then the ``nal_vt`` cookie's."""
    found = (request.match_info.get("token"), request.query.get(TOKEN_PARAM), request.cookies.get(TOKEN_COOKIE))
    return tuple(dict.fromkeys(token for token in found if token))


def kind_of(name: str) -> str:
    if name.endswith(".m3u8"):
        return "playlist"
    if name.endswith(".mp4"):
        return "init"
    return "part" if "part-" in name else "segment"


def _query_int(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise web.HTTPBadRequest(text=f'{{"error": "bad {key}"}}', content_type="application/json")
    return int(raw)


def with_token(playlist: str, token: str) -> str:
    """The playlist with ``?vt=token`` on every URI it lists (tokens are URL-safe)."""
    return f"?{TOKEN_PARAM}={token}".join(token_pieces(playlist))


def token_pieces(playlist: str) -> tuple[str, ...]:
    """``playlist`` cut after each URI it lists (each URI line, each ``URI="..."`` value), so
    that joining the pieces with a token's query puts it on every URI. Cut once per playlist
    text (the segmenter makes a new text per version) and kept for the next viewers: the
    per-request cost is one join."""
    pieces = _PIECES.get(playlist)
    if pieces is None:
        pieces = tuple(_cut_after_uris(playlist))
        if len(_PIECES) >= _PIECES_KEPT:
            _PIECES.clear()
        _PIECES[playlist] = pieces
    return pieces


_PIECES: dict[str, tuple[str, ...]] = {}
_PIECES_KEPT = 64
"""Playlist texts whose pieces are kept: a few versions of each live room's playlist."""


def _cut_after_uris(playlist: str) -> list[str]:
    pieces: list[str] = []
    piece: list[str] = []
    for line in playlist.split("\n"):
        if line and not line.startswith("#"):
            pieces.append("".join(piece) + line)
            piece = []
        elif 'URI="' in line:
            start = 0
            for match in _URI_ATTR.finditer(line):
                pieces.append("".join(piece) + line[start : match.end(1)])
                piece, start = [], match.end(1)
            piece.append(line[start:])
        else:
            piece.append(line)
        piece.append("\n")
    pieces.append("".join(piece)[:-1])
    return pieces


async def _playlist(request: web.Request, muxer: HlsMuxer, token: str | None = None) -> web.StreamResponse:
    segmenter = muxer.segmenter
    msn, part = _query_int(request, "_HLS_msn"), _query_int(request, "_HLS_part")
    if part is not None and msn is None:
        return _json_error(400, "_HLS_part without _HLS_msn")
    if not await muxer.wait_until(lambda: segmenter.playlist_text() is not None, STARTUP_WAIT):
        return _json_error(503, "starting", **{"Retry-After": "1"})
    cache = PLAYLIST_CACHE
    if msn is not None:
        newest = segmenter.last_msn()
        if newest is None or msn > newest + 2:
            return _json_error(400, "_HLS_msn is too far in the future")
        timeout = 3 * segmenter.target_duration
        if not await muxer.wait_until(lambda: segmenter.has(msn, part), timeout):
            return _json_error(503, "not available yet", **{"Retry-After": "1"})
        cache = f"public, max-age={6 * segmenter.target_duration}"
    playlist = segmenter.playlist_text()
    if playlist is None:
        return _json_error(503, "starting", **{"Retry-After": "1"})
    return web.Response(
        text=with_token(playlist, token) if token else playlist,
        content_type=PLAYLIST_TYPE,
        headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"},
    )


async def _part(muxer: HlsMuxer, msn: int, index: int) -> web.StreamResponse:
    segmenter = muxer.segmenter
    part = segmenter.part(msn, index)
    if part is None and is_hinted(muxer, msn, index):
        timeout = 3 * segmenter.target_duration
        await muxer.wait_until(lambda: segmenter.part_settled(msn, index), timeout)
        part = segmenter.part(msn, index)
    if part is None:
        return _json_error(404, "not found")
    return _media(part.data, IMMUTABLE)


def is_hinted(muxer: HlsMuxer, msn: int, index: int) -> bool:
    """The preload-hinted part, or the one after it (a client may run one part ahead)."""
    current = muxer.segmenter.current
    if current is None:
        return False
    return msn == current.msn and len(current.parts) <= index <= len(current.parts) + 1
