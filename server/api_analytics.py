"""A show's analytics over HTTP.

    GET /api/shows/{show_id}/analytics                  the room's owner (everything) or a host
                                                        (no money: no revenue, supporters or
                                                        revenue series) -> the document of
                                                        server/show_report.py
    GET /api/shows/{show_id}/analytics/{series}.csv     one series as CSV: viewers, health,
                                                        chat, marks; revenue for the owner only
    GET /api/shows/{show_id}/analytics/{chart}.svg      a chart (server/show_charts.py): viewers,
                                                        chat; revenue for the owner only

Not signed in: 401. Signed in but neither owner nor host: 403. No such show: 404. A show
that never went live answers the same shape with empty series and zero figures.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from server import auth, show_charts
from server.api_shows import mapped, room_of
from server.errors import Forbidden, NotFound
from server.httputil import BAD_INPUT, json_response
from server.keys import SERVICES
from server.show_report import COLUMNS, MONEY_SERIES, report, to_csv
from ticketing.model import Show


async def _allowed(request: web.Request) -> tuple[Show, bool]:
    """The show and whether the caller sees money (owner); 403 for anyone else."""
    identity = await auth.require_user(request)
    services = request.app[SERVICES]
    show = await services.ticketing.catalog.show(request.match_info["show_id"][:32])
    room = await room_of(request, show.room_slug)
    if identity.user_id == room.owner_id:
        return show, True
    if identity.user_id in await services.store.host_ids(room.id):
        return show, False
    raise Forbidden("only the room's owner and hosts see its analytics", "not_staff")


@mapped
async def analytics(request: web.Request) -> web.Response:
    show, money = await _allowed(request)
    body = await report(request.app[SERVICES].analytics.store, show, money)
    body["sample_s"] = request.app[SERVICES].settings.analytics_sample_s
    return json_response(body, headers={"Cache-Control": "no-store"})


@mapped
async def series_csv(request: web.Request) -> web.Response:
    name = request.match_info["series"]
    if name not in COLUMNS:
        BAD_INPUT.labels("analytics_series").inc()
        raise NotFound(f"no series {name[:40]!r}; one of {', '.join(COLUMNS)}", "no_series")
    show, money = await _allowed(request)
    if name in MONEY_SERIES and not money:
        raise Forbidden("only the room's owner sees its revenue", "not_owner")
    body = await report(request.app[SERVICES].analytics.store, show, money)
    text = to_csv(body["series"][name], COLUMNS[name])
    return web.Response(text=text, content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{show.id}-{name}.csv"', "Cache-Control": "no-store"})


@mapped
async def chart_svg(request: web.Request) -> web.Response:
    name = request.match_info["chart"]
    if name not in show_charts.CHARTS:
        BAD_INPUT.labels("analytics_chart").inc()
        raise NotFound(f"no chart {name[:40]!r}; one of {', '.join(show_charts.CHARTS)}", "no_chart")
    show, money = await _allowed(request)
    if name in MONEY_SERIES and not money:
        raise Forbidden("only the room's owner sees its revenue", "not_owner")
    body = await report(request.app[SERVICES].analytics.store, show, money)
    svg = await asyncio.to_thread(show_charts.RENDER[name], body)
    return web.Response(text=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/shows/{show_id}/analytics", analytics)
    app.router.add_get("/api/shows/{show_id}/analytics/{series}.csv", series_csv)
    app.router.add_get("/api/shows/{show_id}/analytics/{chart}.svg", chart_svg)
