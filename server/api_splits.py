"""A room's split sheet over HTTP, and the invitations that let a songwriter claim a share.

    GET  /api/rooms/{slug}/split-sheet        the room's owner: the lines, parties and invitations
    PUT  /api/rooms/{slug}/split-sheet        the room's owner: {"lines": [LINE, ...]}
    GET  /api/invitations/{token}             anyone with the link: what the share is
    POST /api/invitations/{token}/claim       signed in: the share becomes the caller's

A LINE is ``{"username", "role", "bps"}`` for a user of ours, or ``{"name", "email"?, "role",
"bps"}`` for a songwriter or publisher who has not joined (``"invitation"``: the id of an
earlier invitation keeps it). Basis points are integers and the lines sum to exactly
10,000; a party appears once. Each new invitation answers with its link once
(``invite_url``; only the token's SHA-256 is stored). Until it is claimed the share accrues
to ``invite:{id}`` in the ledger. Claiming moves that balance to the claimer in one ledger
transaction, and the sheet names the claimer from then on; a payment still in checkout
with the old sheet is swept over by the next claim sweep (every settlement run).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from payments.errors import InvalidSplit
from payments.splits import TOTAL_BPS, Role, Share, SplitSheet
from server import splits
from server import tables as t
from server.api_shows import require_owner, room_of
from server.auth import require_user
from server.errors import BadRequest, Conflict, NotFound
from server.httputil import BAD_INPUT, field_text, json_response, read_json
from server.keys import SERVICES
from server.services import Services
from server.store import RoomRow

MAX_LINES = 20
INVITE_ROLES = (Role.SONGWRITER, Role.PUBLISHER)
INVITE_PREFIX = splits.INVITE_PREFIX
invite_party = splits.invite_party


def _bad(message: str, code: str = "bad_split") -> BadRequest:
    BAD_INPUT.labels(code).inc()
    return BadRequest(message, code)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role(line: dict[str, Any], i: int) -> Role:
    try:
        return Role(line.get("role"))
    except ValueError:
        raise _bad(f"line {i}: role must be one of {', '.join(r.value for r in Role)}") from None


def _bps(line: dict[str, Any], i: int) -> int:
    bps = line.get("bps")
    if not isinstance(bps, int) or isinstance(bps, bool) or not 1 <= bps <= TOTAL_BPS:
        raise _bad(f"line {i}: bps must be an integer from 1 to {TOTAL_BPS}")
    return bps


async def _invitations(services: Services, room_id: int) -> dict[str, Any]:
    i = t.split_invitations.c
    async with services.engine.connect() as conn:
        return {r.id: r for r in await conn.execute(sa.select(t.split_invitations).where(i.room_id == room_id))}


async def _lines(request: web.Request, room: RoomRow, data: dict[str, Any]) -> list[tuple[Share, dict[str, Any]]]:
    """Each line checked: its share (party ``user:{id}``, ``invite:{id}`` or ``invite:new``) and what made it."""
    services: Services = request.app[SERVICES]
    raw = data.get("lines")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LINES:
        raise _bad(f"'lines' must be a list of 1 to {MAX_LINES} lines")
    known = await _invitations(services, room.id)
    out: list[tuple[Share, dict[str, Any]]] = []
    for n, line in enumerate(raw, 1):
        if not isinstance(line, dict):
            raise _bad(f"line {n} must be an object")
        role, bps = _role(line, n), _bps(line, n)
        if "username" in line:
            name = line["username"]
            user_id = await services.store.user_id(name) if isinstance(name, str) and len(name) <= 32 else None
            if user_id is None:
                raise _bad(f"line {n}: no user {name!r}", "no_user")
            out.append((Share(f"user:{user_id}", bps, role, name), {}))
            continue
        if role not in INVITE_ROLES:
            raise _bad(f"line {n}: only a songwriter or publisher may be named without a username")
        name = field_text(line, "name", max_len=200)
        email = field_text(line, "email", min_len=0, max_len=254, required=False) or ""
        invitation = line.get("invitation")
        if invitation is not None:
            if invitation not in known:
                raise _bad(f"line {n}: no invitation {invitation!r} in this room", "no_invitation")
            inv = known[invitation]
            party = f"user:{inv.claimed_by}" if inv.claimed_by else invite_party(invitation)
            out.append((Share(party, bps, role, name), {}))
            continue
        out.append((Share(invite_party("new:" + str(n)), bps, role, name), {"name": name, "email": email}))
    try:
        SplitSheet(tuple(s for s, _m in out))
    except InvalidSplit as exc:
        raise _bad(str(exc)) from None
    return out


async def get_sheet(request: web.Request) -> web.Response:
    room = await room_of(request, request.match_info["slug"])
    await require_owner(request, room)
    return json_response(await _sheet_body(request.app[SERVICES], room))


async def _sheet_body(services: Services, room: RoomRow) -> dict[str, Any]:
    sheet = await splits.room_sheet(services.engine, room)
    known = await _invitations(services, room.id)
    lines = []
    for s in sheet.shares:
        line: dict[str, Any] = {"party": s.party, "name": s.name, "role": s.role.value, "bps": s.bps}
        if s.party.startswith(INVITE_PREFIX):
            inv = known.get(s.party.removeprefix(INVITE_PREFIX))
            line["invitation"] = s.party.removeprefix(INVITE_PREFIX)
            line["claimed"] = bool(inv is not None and inv.claimed_by)
        lines.append(line)
    return {"room": room.slug, "lines": lines}


async def put_sheet(request: web.Request) -> web.Response:
    room = await room_of(request, request.match_info["slug"])
    await require_owner(request, room)
    services: Services = request.app[SERVICES]
    lines = await _lines(request, room, await read_json(request))
    base = services.settings.base_url
    invites: list[dict[str, str]] = []
    shares = []
    now = time.time()
    async with services.engine.begin() as conn:
        for share, new in lines:
            if new:
                inv_id, token = secrets.token_hex(8), secrets.token_urlsafe(24)
                await conn.execute(t.split_invitations.insert().values(
                    id=inv_id, token_hash=token_hash(token), room_id=room.id, name=new["name"], email=new["email"],
                    role=share.role.value, claimed_by=None, claimed_at=None, created_at=now))
                share = Share(invite_party(inv_id), share.bps, share.role, share.name)
                invites.append({"invitation": inv_id, "name": share.name, "email": new["email"],
                                "invite_url": f"{base}/invite/{token}"})
            shares.append(share)
        await conn.execute(t.rooms.update().where(t.rooms.c.id == room.id)
                           .values(split_sheet=splits.sheet_json(SplitSheet(tuple(shares)))))
    body = await _sheet_body(services, room)
    body["invitations"] = invites
    return json_response(body)


async def _invitation(request: web.Request) -> Any:
    token = request.match_info["token"]
    async with request.app[SERVICES].engine.connect() as conn:
        row = (await conn.execute(sa.select(t.split_invitations)
                                  .where(t.split_invitations.c.token_hash == token_hash(token[:200])))).first()
    if row is None:
        raise NotFound("no such invitation", "no_invitation")
    return row


async def _share_of(services: Services, room_id: int, party: str) -> Share | None:
    async with services.engine.connect() as conn:
        raw = await splits.stored(conn, room_id)
        slug = await conn.scalar(sa.select(t.rooms.c.slug).where(t.rooms.c.id == room_id))
    room = await services.store.room_row(str(slug))
    if room is None:
        return None
    return next((s for s in splits.sheet_of(raw, room).shares if s.party == party), None)


async def show_invitation(request: web.Request) -> web.Response:
    inv = await _invitation(request)
    services: Services = request.app[SERVICES]
    async with services.engine.connect() as conn:
        slug = await conn.scalar(sa.select(t.rooms.c.slug).where(t.rooms.c.id == inv.room_id))
    party = f"user:{inv.claimed_by}" if inv.claimed_by else invite_party(inv.id)
    share = await _share_of(services, inv.room_id, party)
    return json_response({"room": slug, "name": inv.name, "role": inv.role, "bps": share.bps if share else 0,
                          "claimed": inv.claimed_by is not None})


async def _take(services: Services, inv: Any, user_id: int, username: str) -> None:
    """Mark the invitation claimed and name the claimer on the sheet, in one database transaction."""
    user_party = f"user:{user_id}"
    i = t.split_invitations.c
    async with services.engine.begin() as conn:
        won = await conn.execute(t.split_invitations.update().where(i.id == inv.id, i.claimed_by.is_(None))
                                 .values(claimed_by=user_id, claimed_at=time.time()))
        if won.rowcount != 1:
            raise Conflict("this invitation was claimed by someone else", "claimed")
        raw = await splits.stored(conn, inv.room_id)
        slug = await conn.scalar(sa.select(t.rooms.c.slug).where(t.rooms.c.id == inv.room_id))
        room = await services.store.room_row(str(slug))
        if not raw or room is None:
            return
        sheet = splits.sheet_of(raw, room)
        if any(s.party == user_party for s in sheet.shares):
            raise Conflict("you are on this split sheet already", "already_on_sheet")
        shares = tuple(Share(user_party, s.bps, s.role, username) if s.party == splits.invite_party(inv.id) else s
                       for s in sheet.shares)
        await conn.execute(t.rooms.update().where(t.rooms.c.id == inv.room_id)
                           .values(split_sheet=splits.sheet_json(SplitSheet(shares))))


async def claim(request: web.Request) -> web.Response:
    identity = await require_user(request)
    services: Services = request.app[SERVICES]
    inv = await _invitation(request)
    if inv.claimed_by is not None and inv.claimed_by != identity.user_id:
        raise Conflict("this invitation was claimed by someone else", "claimed")
    user_party = f"user:{identity.user_id}"
    if inv.claimed_by is None:
        await _take(services, inv, identity.user_id, identity.username)
    moved = await splits.sweep(services.engine, services.ledger, [(inv.id, identity.user_id)])
    return json_response({"claimed": True, "party": user_party, "moved": moved})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/rooms/{slug}/split-sheet", get_sheet)
    app.router.add_put("/api/rooms/{slug}/split-sheet", put_sheet)
    app.router.add_get("/api/invitations/{token}", show_invitation)
    app.router.add_post("/api/invitations/{token}/claim", claim)
