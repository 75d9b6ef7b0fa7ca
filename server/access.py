"""Who may watch and chat in a room that has a show on sale: the socket gate, the LL-HLS and
WHEP checks, and the viewing tokens they honour.

A room is gated while it has a show that is not over and has a tier (``Catalog.live_shows``;
cached per room for ``GATED_CACHE_S``, so a new show gates every node within seconds).
Otherwise it is free, as before tickets existed.

- Socket (``ShowGate``, rooms' ``Gate``): the owner and hosts always; a holder of a valid
  ticket for a live show joins, and chats if its tier has chat; anyone else is refused with
  the close reason "ticket needed" and the show's id (its public info is ``GET /api/shows/{id}``).
- LL-HLS (``hls``): a gated room's playlist, parts, segments and init need ``?vt=TOKEN``;
  the playlist served to a token holder lists every URI with the same token. The check is
  the signature and expiry (no database) plus the viewing registry (one device per ticket,
  revocation). No token, a forged, expired, revoked or other room's token: 403, counted.
- WHEP (``whep``): ``Authorization: Bearer <viewing token>`` of a ``realtime`` grant.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter

from relay.keybox import load_or_create_secret
from rooms.ports import Admission, Identity, RoomInfo
from server.config import Settings
from server.viewing import ViewingRegistry
from ticketing.errors import BadToken
from ticketing.model import Show
from ticketing.service import Ticketing
from ticketing.tokens import ViewingGrant, derive_key, sign, verify

GATED_CACHE_S = 3.0
DENIED = Counter("nal_viewing_denied_total", "Media requests refused for want of a valid viewing token",
                 ["kind", "reason"])


def viewing_key(settings: Settings) -> bytes:
    seed = settings.secret_key.encode() if settings.secret_key else load_or_create_secret(settings.data_dir)
    return derive_key(hmac.new(seed, b"viewing tokens", hashlib.sha256).digest())


class ShowAccess:
    def __init__(self, ticketing: Ticketing, registry: ViewingRegistry, key: bytes, token_ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.ticketing = ticketing
        self.registry = registry
        self.key = key
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self._gated: dict[str, tuple[float, list[Show]]] = {}

    async def live_shows(self, slug: str) -> list[Show]:
        now = self.clock()
        cached = self._gated.get(slug)
        if cached is not None and now - cached[0] < GATED_CACHE_S:
            return cached[1]
        shows = await self.ticketing.catalog.live_shows(slug, now)
        if len(self._gated) > 10_000:
            self._gated.clear()
        self._gated[slug] = (now, shows)
        return shows

    def forget(self, slug: str) -> None:
        """A show or tier changed here: ask the database next time."""
        self._gated.pop(slug, None)

    # --- tokens --------------------------------------------------------------------------

    def token(self, ticket_id: str, session: str, room: str, realtime: bool, chat: bool) -> tuple[str, int]:
        expires = int(self.clock() + self.token_ttl_s)
        return sign(self.key, ViewingGrant(ticket_id, session, room, realtime, chat, expires)), expires

    async def grant(self, slug: str, token: str | None) -> ViewingGrant | str:
        """The grant of a token valid now for ``slug``, or why not (the reason is counted)."""
        if not token:
            return "missing"
        try:
            grant = verify(self.key, token, self.clock())
        except BadToken as exc:
            return "expired" if "expired" in str(exc) else "forged"
        if grant.room != slug:
            return "other_room"
        if await self.registry.current(grant.ticket_id) != grant.session:
            return "revoked"
        return grant

    # --- media checks --------------------------------------------------------------------

    async def hls(self, slug: str, token: str | None) -> bool | None:
        """None: the room is free; True: the token may watch; False: 403."""
        if not await self.live_shows(slug):
            return None
        found = await self.grant(slug, token)
        if isinstance(found, str):
            DENIED.labels("hls", found).inc()
            return False
        return True

    async def whep(self, slug: str, request: web.Request) -> bool:
        if not await self.live_shows(slug):
            return True
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        found = await self.grant(slug, token)
        if isinstance(found, str) or not found.realtime:
            DENIED.labels("whep", found if isinstance(found, str) else "standard_tier").inc()
            return False
        return True


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
        return Admission(False, False, f"ticket needed: show {shows[0].id}")
