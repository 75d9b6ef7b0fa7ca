"""The signed-in user's own money: balances and statements from the royalty ledger.

    GET /api/me/balances                               every account of ``user:{id}``
    GET /api/me/statement?from=DATE&to=DATE&format=json|csv

Dates are ``YYYY-MM-DD`` (UTC; ``to`` includes that day) or ISO 8601 date-times. Without
``from``/``to`` the statement covers the last 30 days.
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

from payments import reports
from server.auth import require_user
from server.errors import BadRequest
from server.httputil import BAD_INPUT, json_response
from server.keys import ENGINE
from server.ledger_cli import parse_when

_INSTALLED = web.AppKey("api_ledger_installed", bool)


def party_of(user_id: int) -> str:
    return f"user:{user_id}"


async def my_balances(request: web.Request) -> web.Response:
    user = await require_user(request)
    party = party_of(user.user_id)
    rows = await reports.balances(request.app[ENGINE], party)
    return json_response({
        "party": party,
        "balances": [{"account": b.kind, "currency": b.currency, "balance": b.balance} for b in rows],
    })


def _period(request: web.Request) -> tuple[float, float]:
    q = request.query
    try:
        end = parse_when(q["to"], end=True) if "to" in q else time.time()
        start = parse_when(q["from"]) if "from" in q else end - 30 * 86_400
    except argparse.ArgumentTypeError as exc:
        BAD_INPUT.labels("bad_date").inc()
        raise BadRequest(str(exc), "bad_date") from None
    if start > end:
        BAD_INPUT.labels("bad_period").inc()
        raise BadRequest("'from' is after 'to'", "bad_period")
    return start, end


async def my_statement(request: web.Request) -> web.Response:
    user = await require_user(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        BAD_INPUT.labels("bad_format").inc()
        raise BadRequest("format must be json or csv", "bad_format")
    start, end = _period(request)
    statement = await reports.statement(request.app[ENGINE], party_of(user.user_id), start, end)
    if fmt == "csv":
        return web.Response(
            text=statement.to_csv(), content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="statement.csv"'},
        )
    return web.Response(text=statement.to_json(), content_type="application/json")


def setup(app: web.Application) -> None:
    """Add the routes (once, however often it is called)."""
    if app.get(_INSTALLED):
        return
    app[_INSTALLED] = True
    app.router.add_get("/api/me/balances", my_balances)
    app.router.add_get("/api/me/statement", my_statement)
