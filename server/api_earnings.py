"""The signed-in user's earnings, explained, and the year-end tax summary.

    GET /api/me/earnings                  balances per currency, lines per room/show, payouts
    GET /api/me/tax-summary?year=YYYY     CSV: paid out and gross earned by kind in that year

Statements are ``GET /api/me/statement`` (server/api_ledger.py). Every route reads the
caller's own party only; nobody reads another party's earnings.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from payments import earnings, reports
from payments.payout_accounts import not_ready_reason
from server.api_ledger import party_of
from server.auth import require_user
from server.errors import BadRequest
from server.httputil import BAD_INPUT, json_response
from server.keys import SERVICES
from server.services import Services

YEAR_MIN, YEAR_MAX = 2000, 2999  # a tax summary's calendar years (the next year's start must exist)


async def _balances(services: Services, party: str) -> list[dict[str, Any]]:
    ledger = {(b.kind, b.currency): b.balance for b in await reports.balances(services.engine, party)}
    paid: dict[str, int] = {}
    for p in await services.settlement.payouts(party, states=["paid"]):
        paid[p.currency] = paid.get(p.currency, 0) + p.amount - p.reversed
    standings = {s.currency: s for s in await services.settlement.standings(party)}
    currencies = sorted({c for _k, c in ledger} | set(paid))
    out = []
    for cur in currencies:
        s = standings.get(cur)
        out.append({"currency": cur, "earnings": ledger.get(("earnings", cur), 0),
                    "available": s.available if s else 0, "in_hold": s.in_hold if s else 0,
                    "in_transit": ledger.get(("payout_pending", cur), 0) + ledger.get(("in_transit", cur), 0),
                    "paid": paid.get(cur, 0), "recoupable": ledger.get(("recoupable", cur), 0),
                    "waits": s.reason if s else ""})
    return out


async def my_earnings(request: web.Request) -> web.Response:
    user = await require_user(request)
    services: Services = request.app[SERVICES]
    party = party_of(user.user_id)
    lines = await earnings.lines(services.engine, party)
    payouts = await services.settlement.payouts(party)
    account = await services.payout_accounts.get(party)
    return json_response({
        "party": party,
        "balances": await _balances(services, party),
        "lines": [line.__dict__ for line in lines],
        "payouts": [{"id": p.id, "amount": p.amount, "reversed": p.reversed, "currency": p.currency, "state": p.state,
                     "transfer_group": p.transfer_group, "created_at": p.created_at,
                     "error": p.error} for p in reversed(payouts)],
        "payout_account": {"ready": account.ready if account else False, "reason": not_ready_reason(account)},
    })


async def my_tax_summary(request: web.Request) -> web.Response:
    user = await require_user(request)
    raw = request.query.get("year", time.strftime("%Y", time.gmtime()))
    if not (raw.isascii() and raw.isdigit()) or not YEAR_MIN <= int(raw) <= YEAR_MAX:
        BAD_INPUT.labels("bad_year").inc()
        raise BadRequest(f"year must be a calendar year from {YEAR_MIN} to {YEAR_MAX}", "bad_year")
    year = int(raw)
    text = await earnings.tax_summary_csv(request.app[SERVICES].engine, party_of(user.user_id), year)
    return web.Response(text=text, content_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="tax-summary-{year}.csv"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/me/earnings", my_earnings)
    app.router.add_get("/api/me/tax-summary", my_tax_summary)
