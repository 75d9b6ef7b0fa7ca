"""Who may watch and chat in a room that has a show on sale: the socket gate, the LL-HLS and
WHEP checks, and the viewing tokens they honour.

A room is gated while it has a show that is not over and has a tier (``Catalog.live_shows``;
cached per room for ``GATED_CACHE_S``, so a new show gates every node within seconds).
Otherwise it is free, as before tickets existed.

- Socket (``ShowGate``, rooms' ``Gate``): the owner and hosts always; a holder of a valid
  ticket for a live show joins, and chats if its tier has chat; anyone else gets a
  ``not_admitted`` frame (code ``ticket_needed``) with the show's public info, as ``GET
  /api/shows/{id}`` gives it (title, start time, tiers with prices, what each unlocks, what is
  left; cached ``GATED_CACHE_S``), then the close 4001 "ticket needed: show {id}": no stream
  URLs, no chat.
- LL-HLS (``hls``): a gated room's playlist, parts, segments and init need the token in the
  path (``/live/{slug}/vt/TOKEN/index.m3u8``, the viewing session's ``hls_url``: the
  playlist's relative URIs resolve under it), ``?vt=TOKEN``, or the ``nal_vt`` cookie (set by
  the viewing session and its heartbeat, for native HLS, which keeps reloading the playlist
  address it started with); a playlist asked for with ``?vt=`` lists every URI with the token
  that held. The check is
  the signature and expiry (no database) plus the viewing registry (one device per ticket,
  revocation). No token, a forged, expired, revoked or other room's token: 403, counted.
- WHEP (``whep``): ``Authorization: Bearer <viewing token>`` of a ``realtime`` grant.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web
from prometheus_client import Counter

from media.webrtc.errors import SessionNotFound
from media.webrtc.session import WebRtc
from relay.keybox import load_or_create_secret
from rooms.ports import Admission, Identity, RoomInfo
from server.config import Settings
from server.show_wire import show_json
from server.viewing import ViewingRegistry
from ticketing.errors import BadToken
from ticketing.model import Show
from ticketing.service import Ticketing
from ticketing.tokens import VerifiedTokens, ViewingGrant, derive_key, sign

log = logging.getLogger("notalabel.access")
GATED_CACHE_S = 3.0
GATED_REFRESH_S = 2.5
"""A room's cached shows this old are asked for again in the background by the LL-HLS fast
path's check (:meth:`ShowAccess.hls_now`), which goes on answering from the cache meanwhile:
under a steady flow of viewers the cache is renewed before it runs out, so no request waits
for the database (every request that came during one query did, once every
``GATED_CACHE_S``: a task each, and the LL-HLS part fetch's slowest percent)."""
GRANT: web.RequestKey[ViewingGrant] = web.RequestKey("viewing_grant")
DENIED = Counter("nal_viewing_denied_total", "Media requests refused for want of a valid viewing token",
                 ["kind", "reason"])


def viewing_key(settings: Settings) -> bytes:
    seed = settings.secret_key.encode() if settings.secret_key else load_or_create_secret(settings.data_dir)
    return derive_key(hmac.new(seed, b"viewing tokens", hashlib.sha256).digest())


def _refreshed(done: asyncio.Future[list[Show]]) -> None:
    """A background refresh (:data:`GATED_REFRESH_S`) ended: a failure is logged (nobody awaits it;
    the next request past ``GATED_CACHE_S`` asks again and waits)."""
    if not done.cancelled() and done.exception() is not None:
        log.warning("refreshing a room's shows failed", exc_info=done.exception())


class ShowAccess:
    def __init__(self, ticketing: Ticketing, registry: ViewingRegistry, key: bytes, token_ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.ticketing = ticketing
        self.registry = registry
        self.key = key
        self.tokens = VerifiedTokens(key)
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self._gated: dict[str, tuple[float, list[Show]]] = {}
        self._asking: dict[str, asyncio.Future[list[Show]]] = {}
        self._public: dict[str, tuple[float, dict[str, Any]]] = {}

    async def live_shows(self, slug: str) -> list[Show]:
        """The room's shows that gate it (cached ``GATED_CACHE_S``). One query per room at a
        time: when the cache runs out under a thousand viewers' requests, they all wait for
        the same one instead of each asking the database."""
        now = self.clock()
        cached = self._gated.get(slug)
        if cached is not None and now - cached[0] < GATED_CACHE_S:
            return cached[1]
        return await asyncio.shield(self._asking_now(slug, now))

    def _asking_now(self, slug: str, now: float) -> asyncio.Future[list[Show]]:
        """The room's query in flight, or a new one."""
        asking = self._asking.get(slug)
        if asking is None:
            asking = self._asking[slug] = asyncio.ensure_future(self._ask(slug, now))
            asking.add_done_callback(functools.partial(self._asked, slug))
        return asking

    async def _ask(self, slug: str, now: float) -> list[Show]:
        shows = await self.ticketing.catalog.live_shows(slug, now)
        if self._asking.get(slug) is asyncio.current_task():  # not forgotten meanwhile
            if len(self._gated) > 10_000:
                self._gated.clear()
            self._gated[slug] = (now, shows)
        return shows

    def _asked(self, slug: str, done: asyncio.Future[list[Show]]) -> None:
        if self._asking.get(slug) is done:
            del self._asking[slug]

    def forget(self, slug: str) -> None:
        """A show or tier changed here: ask the database next time (a query already on its
        way is not cached)."""
        self._gated.pop(slug, None)
        self._asking.pop(slug, None)
        self._public.clear()

    async def public(self, show: Show) -> dict[str, Any]:
        """The show as ``GET /api/shows/{id}`` shows it to anyone (cached ``GATED_CACHE_S``:
        a flood of refused sockets costs the database a query per show every few seconds)."""
        now = self.clock()
        cached = self._public.get(show.id)
        if cached is not None and now - cached[0] < GATED_CACHE_S:
            return cached[1]
        body = show_json(show, await self.ticketing.catalog.tiers_with_counts(show.id), now, owner=False)
        if len(self._public) > 10_000:
            self._public.clear()
        self._public[show.id] = (now, body)
        return body

    # --- tokens --------------------------------------------------------------------------

    def token(self, ticket_id: str, session: str, room: str, realtime: bool, chat: bool) -> tuple[str, int]:
        expires = int(self.clock() + self.token_ttl_s)
        return sign(self.key, ViewingGrant(ticket_id, session, room, realtime, chat, expires)), expires

    async def grant(self, slug: str, token: str | None) -> ViewingGrant | str:
        """The grant of a token valid now for ``slug``, or why not (the reason is counted)."""
        if not token:
            return "missing"
        try:
            grant = self.tokens.verify(token, self.clock())
        except BadToken as exc:
            return "expired" if "expired" in str(exc) else "forged"
        if grant.room != slug:
            return "other_room"
        if await self.registry.current(grant.ticket_id) != grant.session:
            return "revoked"
        return grant

    # --- media checks --------------------------------------------------------------------

    async def hls(self, slug: str, tokens: tuple[str, ...]) -> str | Literal[False] | None:
        """None: the room is free; the first of ``tokens`` that may watch; False: 403
        (counted once, with the first token's reason)."""
        if not await self.live_shows(slug):
            return None
        reason = "missing"
        for i, token in enumerate(tokens):
            found = await self.grant(slug, token)
            if not isinstance(found, str):
                return token
            reason = found if i == 0 else reason
        DENIED.labels("hls", reason).inc()
        return False

    def hls_now(self, slug: str, tokens: tuple[str, ...]) -> tuple[bool, str | Literal[False] | None]:
        """:meth:`hls` without waiting, for the LL-HLS fast path: (True, its answer, counted
        as it counts) when everything it needs is in memory (the room's shows and each
        token's registry entry, as cached), else (False, None): then ask :meth:`hls`."""
        cached = self._gated.get(slug)
        if cached is None:
            return False, None
        now = self.clock()
        if now - cached[0] >= GATED_CACHE_S:
            return False, None
        if now - cached[0] >= GATED_REFRESH_S and slug not in self._asking:
            self._asking_now(slug, now).add_done_callback(_refreshed)
        if not cached[1]:
            return True, None
        reason = "missing"
        for i, token in enumerate(tokens):
            known, found = self._grant_now(slug, token, now)
            if not known:
                return False, None
            if not isinstance(found, str):
                return True, token
            reason = found if i == 0 else reason
        DENIED.labels("hls", reason).inc()
        return True, False

    def _grant_now(self, slug: str, token: str, now: float) -> tuple[bool, ViewingGrant | str]:
        if not token:
            return True, "missing"
        try:
            grant = self.tokens.verify(token, now)
        except BadToken as exc:
            return True, "expired" if "expired" in str(exc) else "forged"
        if grant.room != slug:
            return True, "other_room"
        known, session = self.registry.current_now(grant.ticket_id)
        if not known:
            return False, grant
        return True, grant if session == grant.session else "revoked"

    async def whep(self, slug: str, request: web.Request) -> bool:
        if not await self.live_shows(slug):
            return True
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        found = await self.grant(slug, token)
        if isinstance(found, str) or not found.realtime:
            DENIED.labels("whep", found if isinstance(found, str) else "standard_tier").inc()
            return False
        request[GRANT] = found
        return True


class WhepWatch:
    """WHEP sessions opened with a viewing token end once that token's device session is no
    longer its ticket's current one (taken over, refunded, transferred): checked every
    ``every_s`` against the viewing registry, so on every node within seconds.

    The WHEP answer's ``Location`` names the session; ``on_prepare`` (aiohttp's response
    signal) links it to the grant the gate stored on the request."""

    def __init__(self, access: ShowAccess, every_s: float = 2.0) -> None:
        self.access = access
        self.every_s = every_s
        self.sessions: dict[str, tuple[str, ViewingGrant]] = {}
        self.webrtc: WebRtc | None = None
        self._task: asyncio.Task[None] | None = None

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        grant = request.get(GRANT)
        location = response.headers.get("Location", "")
        if grant is not None and response.status == 201 and location.startswith(f"/whep/{grant.room}/"):
            self.sessions[location.rsplit("/", 1)[1]] = (grant.room, grant)

    async def sweep(self) -> int:
        """End the sessions whose grant no longer holds; how many ended."""
        ended = 0
        for sid, (slug, grant) in list(self.sessions.items()):
            if await self.access.registry.current(grant.ticket_id) == grant.session:
                continue
            self.sessions.pop(sid, None)
            if self.webrtc is None:
                continue
            try:
                session = self.webrtc.session("whep", slug, sid)
            except SessionNotFound:
                continue
            await self.webrtc.end(session)
            DENIED.labels("whep", "ended_revoked").inc()
            ended += 1
        return ended

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a Redis blip must not stop the watch; next round retries
                log.warning("WHEP access sweep failed", exc_info=True)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="whep-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class ShowGate:
    """rooms' ``Gate`` for rooms with a show on sale (see the module rules)."""

    def __init__(self, access: ShowAccess) -> None:
        self.access = access

    async def admit(self, room: RoomInfo, identity: Identity | None) -> Admission:
        shows = await self.access.live_shows(room.slug)
        if not shows:
            return Admission(True, identity is not None)
        if identity is not None and (identity.user_id == room.owner_id or identity.user_id in room.host_ids):
            return Admission(True, True)
        sales = self.access.ticketing.sales
        for show in shows:
            held = await sales.access(identity.user_id, show.id) if identity is not None else None
            if held is not None:
                return Admission(True, held.tier.chat)
        return Admission(False, False, f"ticket needed: show {shows[0].id}", code="ticket_needed",
                         info={"show": await self.access.public(shows[0])})
