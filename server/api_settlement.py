"""A show's money for its room's owner: the settlement sheet and the setlist.

    GET /api/shows/{show_id}/settlement?format=json|csv   who got what of the show, and why
    GET /api/shows/{show_id}/setlist.csv                  the performance-rights setlist

Only the room's owner reads them (``payments.show_sheet``, ``payments.reports.setlist_csv``);
hosts, fans and guests are refused.
"""

from __future__ import annotations

from aiohttp import web

from payments import reports, show_sheet
from server.api_shows import mapped, require_owner, room_of
from server.errors import BadRequest
from server.httputil import BAD_INPUT, json_response
from server.keys import SERVICES
from server.services import Services


async def _owned_show(request: web.Request) -> str:
    services: Services = request.app[SERVICES]
    show = await services.ticketing.catalog.show(request.match_info["show_id"][:32])
    await require_owner(request, await room_of(request, show.room_slug))
    return show.id


async def settlement_sheet(request: web.Request) -> web.Response:
    show_id = await _owned_show(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        BAD_INPUT.labels("bad_format").inc()
        raise BadRequest("format must be json or csv", "bad_format")
    sheets = await show_sheet.sheets(request.app[SERVICES].engine, show_id)
    if fmt == "csv":
        return web.Response(text=show_sheet.to_csv(sheets), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="settlement-{show_id}.csv"'})
    return json_response({"show": show_id, "sheets": [s.to_json() for s in sheets]})


async def setlist(request: web.Request) -> web.Response:
    show_id = await _owned_show(request)
    text = await reports.setlist_csv(request.app[SERVICES].engine, show_id)
    return web.Response(text=text, content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="setlist-{show_id}.csv"'})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/shows/{show_id}/settlement", mapped(settlement_sheet))
    app.router.add_get("/api/shows/{show_id}/setlist.csv", mapped(setlist))
