"""Money in over HTTP: tips, paid song-request boosts, the payer's own payments, refunds.

    POST /api/rooms/{slug}/tips                              {"amount", "message"?, "anonymous"?} -> 201 {"tip_id", "checkout_url"}
    POST /api/rooms/{slug}/song-requests/{request_id}/boosts {"amount"} -> 201 {"boost_id", "checkout_url"}
    GET  /api/rooms/{slug}/tip-settings                      {"currency", "tip_min", "tip_max"} (anyone)
    PUT  /api/rooms/{slug}/tip-settings                      the same (owner)
    GET  /api/me/payments                                    the caller's own payments, newest first
    POST /api/payments/{id}/refund                           {"amount"?} (the room's owner) -> 202

Amounts are integers in minor units of the room's currency, between its ``tip_min`` and
``tip_max``. A tip's message (at most 200 characters) must pass the room's blocked terms,
and a banned or timed-out fan may tip only without one. The split sheet is fixed when the
checkout starts: the room's split sheet (``server.splits``; the owner alone by default); a
boost gives the requested song's writers ``performance_bps`` of the net (DESIGN.md: the
songwriters of performed songs) and the room's sheet the rest. A tip or boost made while a
show of the room is on joins that show's money (``show_meta``), settled with it.
Nothing reaches the ledger or the room until the provider's webhook says it was paid.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from payments.accounts import check_currency
from payments.checkout import Payment, new_payment_id, sheet_rows
from payments.errors import InvalidAmount, ProviderError
from payments.providers import CheckoutRequest, LineItem
from payments.splits import Role, Share, SplitSheet, allocate
from rooms.moderation import RoomSettings
from rooms.terms import find_blocked
from rooms.text import matching_text
from server import auth, room_reads, splits
from server import tables as t
from server.api_sandbox import BadGateway
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.httputil import (
    BAD_INPUT,
    field_int,
    field_text,
    json_response,
    read_json,
    read_json_if_any,
)
from server.keys import SERVICES
from server.store import RoomRow, TipRoom, show_on_now

MESSAGE_MAX = 200
AMOUNT_CAP = 100_000_000


async def _room(request: web.Request) -> RoomRow:
    row = await request.app[SERVICES].store.room_row(request.match_info["slug"])
    if row is None:
        raise NotFound("no such room", "no_room")
    return row


async def money_settings(request: web.Request, room_id: int) -> dict[str, Any]:
    r = t.rooms.c
    async with request.app[SERVICES].engine.connect() as conn:
        row = (await conn.execute(sa.select(r.currency, r.tip_min, r.tip_max).where(r.id == room_id))).one()
    return {"currency": row.currency, "tip_min": row.tip_min, "tip_max": row.tip_max}


def _amount(data: dict[str, Any], money: dict[str, Any]) -> int:
    return field_int(data, "amount", lo=money["tip_min"], hi=money["tip_max"])


def _refuse(message: str, code: str) -> BadRequest:
    BAD_INPUT.labels(code).inc()
    return BadRequest(message, code)


def _message(tip_room: TipRoom, data: dict[str, Any]) -> str:
    message = field_text(data, "message", min_len=0, max_len=MESSAGE_MAX, required=False)
    if not message:
        return ""
    if tip_room.banned:
        raise Forbidden("banned from this room: tip without a message", "banned")
    if tip_room.timed_out:
        raise Forbidden("timed out in this room: tip without a message for now", "timed_out")
    settings = RoomSettings.parse(tip_room.settings)
    term = find_blocked(settings.terms_pattern(), matching_text(message))
    if term is not None:
        raise _refuse(f"message contains a blocked term ({term!r})", "blocked_term")
    return message


async def room_sheet(request: web.Request, room: RoomRow) -> SplitSheet:
    return await splits.room_sheet(request.app[SERVICES].engine, room)


def transfer_group(payment: Payment) -> str:
    """Stripe's transfer group of a charge: its show (what settlement pays out per show), else its room."""
    show = payment.meta.get("show")
    return f"show:{show}" if show else f"room:{payment.room}"


async def show_meta(request: web.Request, room: RoomRow) -> dict[str, str]:
    """``{"show": id}`` of the room's show on now (started, not ended): a tip or boost joins
    that show's earnings (and its settlement); ``{}`` when none is on."""
    async with request.app[SERVICES].store.reads.connect() as conn:
        found = await conn.scalar(show_on_now(room.slug, time.time()))
    return {"show": str(found)} if found else {}


async def checkout(request: web.Request, payment: Payment, title: str) -> str:
    """Open the provider's checkout, then store the pending payment with its session id (one
    statement); the checkout's URL. The payer gets the URL only once the payment is stored, so
    no payment and no webhook can name a payment we do not hold; a checkout whose store failed
    is never paid and expires (its idempotency key is the payment's id)."""
    services = request.app[SERVICES]
    base = services.settings.base_url
    payment.sheet()  # a bad sheet is refused before the provider is asked
    req = CheckoutRequest(
        reference=payment.id, amount=payment.amount, currency=payment.currency,
        line_items=(LineItem(title, payment.amount),),
        success_url=f"{base}/watch/{payment.room}?paid={payment.id}", cancel_url=f"{base}/watch/{payment.room}",
        expires_at=int(time.time()) + services.settings.checkout_expiry_s, transfer_group=transfer_group(payment),
        metadata={"nal_payment": payment.id, "kind": payment.kind, "room": payment.room},
    )
    try:
        session = await services.provider.create_checkout(req)
    except ProviderError as exc:
        raise BadGateway(str(exc), "provider_failed") from None
    await services.book.create(replace(payment, session_id=session.id))
    return session.url


async def create_tip(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    tip_room = await request.app[SERVICES].store.tip_room(request.match_info["slug"], identity.user_id)
    if tip_room is None:
        raise NotFound("no such room", "no_room")
    room = tip_room.room
    data = await read_json(request)
    money: dict[str, Any] = {"currency": tip_room.currency, "tip_min": tip_room.tip_min, "tip_max": tip_room.tip_max}
    amount = _amount(data, money)
    anonymous = data.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise _refuse("'anonymous' must be true or false", "bad_field")
    message = _message(tip_room, data)
    payment = Payment(
        id=new_payment_id("tip"), kind="tip", status="pending", payer=f"user:{identity.user_id}", room=room.slug,
        amount=amount, currency=money["currency"], provider=request.app[SERVICES].provider.name,
        meta={"from": "Anonymous" if anonymous else identity.username, "user": identity.username,
              "message": message, "anonymous": anonymous,
              "sheet": sheet_rows(splits.sheet_of(tip_room.split_sheet, room)),
              **({"show": tip_room.show_on} if tip_room.show_on else {})},
    )
    url = await checkout(request, payment, f"Tip for {room.title}")
    return json_response({"tip_id": payment.id, "checkout_url": url}, status=201)


def writer_party(writer: dict[str, Any]) -> str:
    ipi = str(writer.get("ipi") or "").strip()
    return f"writer:ipi:{ipi}" if ipi else f"writer:{str(writer['name']).strip().casefold()}"


def boost_sheet(base: SplitSheet, writers: list[dict[str, Any]], writers_bps: int) -> SplitSheet:
    """The song's writers get ``writers_bps`` of the net, by their shares; the room's own split
    sheet (``base``) shares the rest, line by line in proportion to its basis points."""
    shares: dict[str, tuple[int, Role, str]] = {}
    if writers and writers_bps > 0:
        parts = allocate(writers_bps, [int(w["share_bps"]) for w in writers])
        for writer, bps in zip(writers, parts, strict=True):
            party = writer_party(writer)
            role = Role.PUBLISHER if writer.get("role") == "publisher" else Role.SONGWRITER
            old = shares.get(party, (0, role, str(writer["name"])))
            shares[party] = (old[0] + bps, old[1], old[2])
    rest = 10_000 - sum(b for b, _r, _n in shares.values())
    for line, bps in zip(base.shares, allocate(rest, [x.bps for x in base.shares]), strict=True):
        old = shares.get(line.party, (0, line.role, line.name))
        shares[line.party] = (old[0] + bps, old[1], old[2])
    base_first = [x.party for x in base.shares] + [p for p in shares if p not in {x.party for x in base.shares}]
    return SplitSheet(tuple(Share(p, shares[p][0], shares[p][1], shares[p][2]) for p in base_first if shares[p][0] > 0))


async def _writers(request: web.Request, room_id: int, song_id: int) -> list[dict[str, Any]]:
    s = t.songs.c
    async with request.app[SERVICES].engine.connect() as conn:
        raw = await conn.scalar(sa.select(s.writers).where((s.room_id == room_id) & (s.id == song_id)))
    writers = json.loads(raw or "[]")
    return writers if isinstance(writers, list) else []


async def create_boost(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    room = await _room(request)
    data = await read_json(request)
    money = await money_settings(request, room.id)
    amount = _amount(data, money)
    services = request.app[SERVICES]
    request_id = request.match_info["request_id"]
    entry = await room_reads.song_request(services.bus, room.slug, request_id) if len(request_id) <= 64 else None
    if entry is None:
        raise NotFound("no such song request in the queue", "no_request")
    writers = await _writers(request, room.id, entry.song_id)
    sheet = boost_sheet(await room_sheet(request, room), writers, services.ledger.policy.performance_bps)
    payment = Payment(
        id=new_payment_id("boost"), kind="boost", status="pending", payer=f"user:{identity.user_id}",
        room=room.slug, amount=amount, currency=money["currency"], provider=services.provider.name,
        meta={"from": identity.username, "user": identity.username, "request_id": request_id,
              "song_id": entry.song_id, "sheet": sheet_rows(sheet), **await show_meta(request, room)},
    )
    url = await checkout(request, payment, f"Boost: {entry.title}")
    return json_response({"boost_id": payment.id, "checkout_url": url}, status=201)


async def my_payments(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    rows = await request.app[SERVICES].book.of_payer(f"user:{identity.user_id}")
    return json_response({"payments": [p.public() for p in rows]})


async def refund_payment(request: web.Request) -> web.Response:
    """The room's owner refunds a payment made in their room (hosts and fans may not)."""
    identity = await auth.require_user(request)
    services = request.app[SERVICES]
    payment = await services.book.get(request.match_info["payment_id"][:40])
    room = await services.store.room_row(payment.room) if payment else None
    if payment is None or room is None:
        raise NotFound("no such payment", "no_payment")
    if identity.user_id != room.owner_id:
        raise Forbidden("only the room's owner refunds its payments", "forbidden")
    data = await read_json_if_any(request)
    left = payment.amount - payment.refunded
    amount = field_int(data, "amount", lo=1, hi=max(left, 1)) if "amount" in data else left
    if payment.status != "paid" or payment.payment_intent is None or left <= 0:
        raise Conflict(f"this payment is {payment.status}; only paid payments are refunded", "not_refundable")
    key = f"refund:{payment.id}:{payment.refunded}:{amount}"
    try:
        refund_id = await services.provider.refund(payment.payment_intent, amount, key)
    except ProviderError as exc:
        raise BadGateway(str(exc), "provider_failed") from None
    return json_response({"id": payment.id, "refund": refund_id, "amount": amount, "status": "refund_requested"},
                         status=202)


async def get_tip_settings(request: web.Request) -> web.Response:
    room = await _room(request)
    return json_response(await money_settings(request, room.id))


async def put_tip_settings(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    room = await _room(request)
    if identity.user_id != room.owner_id:
        raise Forbidden("only the room's owner sets tip settings", "forbidden")
    data = await read_json(request)
    current = await money_settings(request, room.id)
    currency = data.get("currency", current["currency"])
    try:
        check_currency(currency if isinstance(currency, str) else "")
    except InvalidAmount:
        raise _refuse("'currency' must be an ISO 4217 code like USD", "bad_field") from None
    low = field_int({**current, **data}, "tip_min", lo=1, hi=AMOUNT_CAP)
    high = field_int({**current, **data}, "tip_max", lo=low, hi=AMOUNT_CAP)
    values = {"currency": currency, "tip_min": low, "tip_max": high}
    async with request.app[SERVICES].engine.begin() as conn:
        await conn.execute(t.rooms.update().where(t.rooms.c.id == room.id).values(**values))
    return json_response(values)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/rooms/{slug}/tips", create_tip)
    r.add_post("/api/rooms/{slug}/song-requests/{request_id}/boosts", create_boost)
    r.add_get("/api/rooms/{slug}/tip-settings", get_tip_settings)
    r.add_put("/api/rooms/{slug}/tip-settings", put_tip_settings)
    r.add_get("/api/me/payments", my_payments)
    r.add_post("/api/payments/{payment_id}/refund", refund_payment)
