"""The authorization audit of every money route (issue 10, "Authorization matrix tests for every
new route"): tickets, orders, payments, tips and boosts, tier prices, comps, viewing sessions,
earnings, balances, statements, payouts, split sheets and settlement.

The list of routes comes from ``server.openapi.ROUTES``: every route whose path names money
(``MONEY``) must have a line in ``RULES``, so a new money endpoint without a rule fails
``test_every_money_route_has_a_rule``. Each rule says what each of six callers gets: a guest,
another fan (``mallory``, no ticket), the fan whose ticket, order and payment it is (``vera``),
a host of the room (``hal``), the room's owner (``olga``) and another room's owner (``otto``).
Every call gets fresh resources where the call would use them up (a refund, a transfer, a
claim), so each caller meets the same world. For ``/api/me/...`` the answer must hold nothing
of anyone else's: no other caller's ticket, order or payment id, and no other caller's party.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.openapi import ROUTES
from tests.support.money import Running, running
from tests.support.wait import wait_until

ROLES = ("guest", "mallory", "vera", "hal", "olga", "otto")
MONEY = re.compile(r"ticket|order|payment|refund|earning|payout|settle|balance|statement|tax|tip|boost|comp"
                   r"|viewing|split|setlist|invitation|analytics|tiers")
SHOW_PAGE = ("get", "/api/shows/{show_id}")  # public, but only its owner sees sold, held and revenue


def everyone(status: int, guest: int = 401) -> dict[str, int]:
    return {role: guest if role == "guest" else status for role in ROLES}


def only(allowed: dict[str, int], refused: int = 403, guest: int = 401) -> dict[str, int]:
    """``allowed`` callers get their status, every other signed-in caller ``refused``."""
    return {role: guest if role == "guest" else allowed.get(role, refused) for role in ROLES}


OWNER = {"olga": 200}
STAFF = {"olga": 200, "hal": 200}
RULES: dict[tuple[str, str], dict[str, int]] = {
    ("post", "/api/rooms/{slug}/socket-ticket"): everyone(201),
    ("post", "/api/rooms/{slug}/publish-ticket"): only({"olga": 201}),
    ("post", "/api/rooms/{slug}/tips"): everyone(201),
    ("post", "/api/rooms/{slug}/song-requests/{request_id}/boosts"): everyone(201),
    ("get", "/api/rooms/{slug}/tip-settings"): everyone(200, guest=200),
    ("put", "/api/rooms/{slug}/tip-settings"): only(OWNER),
    ("get", "/api/me/payments"): everyone(200),
    ("post", "/api/payments/{payment_id}/refund"): only({"olga": 202}),
    ("get", "/api/shows/{show_id}/analytics"): only(STAFF),
    ("get", "/api/shows/{show_id}/analytics/{series}.csv"): only(OWNER),  # series: revenue
    ("get", "/api/shows/{show_id}/analytics/{chart}.svg"): only(OWNER),  # chart: revenue
    SHOW_PAGE: everyone(200, guest=200),
    ("post", "/api/shows/{show_id}/tiers"): only({"olga": 201}),
    ("patch", "/api/shows/{show_id}/tiers/{tier_id}"): only(OWNER),
    ("post", "/api/shows/{show_id}/comps"): only({"olga": 201}),
    ("post", "/api/shows/{show_id}/orders"): everyone(201),
    ("get", "/api/orders/{order_id}"): only({"vera": 200}, refused=404),
    ("post", "/api/tickets/{ticket_id}/refund"): only({"olga": 202}),
    ("post", "/api/shows/{show_id}/viewing-sessions"): only({"vera": 201, "olga": 201, "hal": 201}),
    ("post", "/api/viewing-sessions/{session}/heartbeat"): only({"vera": 200}, refused=404),
    ("get", "/api/me/tickets"): everyone(200),
    ("post", "/api/tickets/{ticket_id}/transfer"): only({"vera": 200}, refused=404),
    ("get", "/api/me/balances"): everyone(200),
    ("get", "/api/me/statement"): everyone(200),
    ("post", "/api/me/payout-account"): everyone(201),
    ("get", "/api/me/payout-account"): everyone(200),
    ("get", "/api/me/payout-account/refresh"): everyone(302),
    ("get", "/api/me/earnings"): everyone(200),
    ("get", "/api/me/tax-summary"): everyone(200),
    ("get", "/api/rooms/{slug}/split-sheet"): only(OWNER),
    ("put", "/api/rooms/{slug}/split-sheet"): only(OWNER),
    ("get", "/api/invitations/{token}"): everyone(200, guest=200),  # the token is the credential
    ("post", "/api/invitations/{token}/claim"): {**everyone(200), "olga": 409},  # olga: on the sheet already
    ("get", "/api/shows/{show_id}/settlement"): only(OWNER),
    ("get", "/api/shows/{show_id}/setlist.csv"): only(OWNER),
}


def money_routes() -> list[tuple[str, str]]:
    return [(method, path) for method, path, *_ in ROUTES if MONEY.search(path)] + [SHOW_PAGE]


def test_every_money_route_has_a_rule() -> None:
    missing = [route for route in money_routes() if route not in RULES]
    assert not missing, f"money routes without an authorization rule in RULES: {missing}"
    stale = [route for route in RULES if route not in money_routes()]
    assert not stale, f"rules for routes ROUTES no longer lists: {stale}"


async def test_every_money_route_the_server_serves_is_in_routes(tmp_path: Path) -> None:
    """A money route added to the router but not to ROUTES would dodge the audit."""
    async with running(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}") as srv:
        served = {(r.method.lower(), r.resource.canonical) for r in srv.app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api/")
                  and MONEY.search(r.resource.canonical) and r.method != "HEAD"}
    listed = set(money_routes())
    assert served - listed == set(), served - listed


@dataclass
class World:
    srv: Running
    heads: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    slug: str = ""
    show: str = ""
    tier: str = ""
    order: str = ""
    ticket: str = ""
    tip: str = ""
    request_id: str = ""
    # what may show in whose /api/me answers: an id or party -> the callers it belongs to
    marks: dict[str, set[str]] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        return self.heads.get(role, {})

    async def ok(self, method: str, path: str, role: str, status: int = 200, **kw: Any) -> Any:
        r = await self.srv.http.request(method, path, headers=self.h(role), **kw)
        assert r.status == status, (method, path, role, r.status, await r.text())
        return await r.json()

    async def paid_order(self) -> tuple[str, str]:
        """vera buys a seat and pays in the sandbox: (order id, ticket id)."""
        order = await self.ok("POST", f"/api/shows/{self.show}/orders", "vera", 201, json={"tier_id": self.tier})
        assert (await self.srv.sandbox(order["checkout_url"], "pay")).status == 200
        got = await wait_until(lambda: self.ok("GET", f"/api/orders/{order['order_id']}", "vera"),
                               lambda o: o["ticket_id"] is not None, timeout=30)
        return order["order_id"], got["ticket_id"]

    async def paid_tip(self) -> str:
        tip = await self.srv.tip(self.slug, self.h("vera"), amount=700)
        assert (await self.srv.sandbox(tip["checkout_url"], "pay")).status == 200

        async def status() -> str:
            body = await self.ok("GET", "/api/me/payments", "vera")
            return next(str(p["status"]) for p in body["payments"] if p["id"] == tip["tip_id"])

        await wait_until(status, lambda s: s == "paid", timeout=30)
        return str(tip["tip_id"])

    async def invitation(self) -> str:
        lines = [{"username": "olga", "role": "artist", "bps": 9_000},
                 {"name": "Sam Writer", "email": "sam@example.com", "role": "songwriter", "bps": 1_000}]
        body = await self.ok("PUT", f"/api/rooms/{self.slug}/split-sheet", "olga", json={"lines": lines})
        return str(body["invitations"][0]["invite_url"].rsplit("/", 1)[1])

    async def viewing_token(self) -> tuple[str, str]:
        body = await self.ok("POST", f"/api/shows/{self.show}/viewing-sessions", "vera", 201,
                             json={"takeover": True})
        return str(body["session"]), str(body["token"])


async def build(srv: Running) -> World:
    w = World(srv)
    for role in ROLES[1:]:
        w.heads[role], _ = await srv.signup(role)
        w.ids[role] = (await w.ok("GET", "/api/me", role))["id"]
        w.marks[f"user:{w.ids[role]}"] = {role}
    await srv.signup("cora")  # the comps go to her, so mallory stays without a ticket
    w.slug = await srv.room(w.h("olga"), "Album Night")
    await srv.room(w.h("otto"), "Otto's Room")
    await w.ok("POST", f"/api/rooms/{w.slug}/hosts", "olga", 201, json={"username": "hal"})
    w.show = (await w.ok("POST", f"/api/rooms/{w.slug}/shows", "olga", 201,
                         json={"title": "Album launch", "starts_at": "2030-05-01T20:00:00Z"}))["id"]
    w.tier = (await w.ok("POST", f"/api/shows/{w.show}/tiers", "olga", 201,
                         json={"name": "Front row", "price": 2_500, "latency_class": "realtime"}))["id"]
    w.order, w.ticket = await w.paid_order()
    w.tip = await w.paid_tip()
    w.marks[w.ticket] = {"vera"}
    w.marks[w.order] = w.marks[w.tip] = {"vera", "olga"}  # the payer, and the payee's statement
    song = await w.ok("POST", f"/api/rooms/{w.slug}/songs", "olga", 201, json={"title": "Opening Song"})
    w.request_id = await song_request(srv, w.slug, w.h("vera"), int(song["id"]))
    return w


async def song_request(srv: Running, slug: str, headers: dict[str, str], song_id: int) -> str:
    """vera asks for a song over the room socket (the only way in): the queued request's id."""
    ticket = await srv.http.post(f"/api/rooms/{slug}/socket-ticket", headers=headers)
    token = (await ticket.json())["ticket"]
    async with srv.http.ws_connect(f"/ws/rooms/{slug}?ticket={token}") as ws:
        await ws.send_json({"op": "song.request", "id": 1, "song_id": song_id})
        while True:
            event = await ws.receive_json(timeout=30)
            assert event.get("type") != "error", event
            queue = (event.get("data") or {}).get("queue")
            if event.get("type") == "song.queue" and queue:
                return str(queue[0]["id"])


Call = Callable[[World, str], Awaitable[tuple[str, dict[str, Any]]]]


async def _plain(path: str, w: World, role: str) -> tuple[str, dict[str, Any]]:
    return path, {}


def plain(path: str) -> Call:
    return lambda w, role: _plain(path, w, role)


async def refund_payment(w: World, role: str) -> tuple[str, dict[str, Any]]:
    return f"/api/payments/{await w.paid_tip()}/refund", {}


async def refund_ticket(w: World, role: str) -> tuple[str, dict[str, Any]]:
    _order, ticket = await w.paid_order()
    return f"/api/tickets/{ticket}/refund", {}


async def transfer(w: World, role: str) -> tuple[str, dict[str, Any]]:
    _order, ticket = await w.paid_order()
    to = "otto" if role == "mallory" else "mallory"
    return f"/api/tickets/{ticket}/transfer", {"json": {"username": to}}


async def heartbeat(w: World, role: str) -> tuple[str, dict[str, Any]]:
    session, token = await w.viewing_token()
    return f"/api/viewing-sessions/{session}/heartbeat", {"json": {"token": token}}


async def invitation(w: World, role: str) -> tuple[str, dict[str, Any]]:
    return f"/api/invitations/{await w.invitation()}", {}


async def claim(w: World, role: str) -> tuple[str, dict[str, Any]]:
    return f"/api/invitations/{await w.invitation()}/claim", {}


def calls(w: World) -> dict[tuple[str, str], Call]:
    s, show, tier = w.slug, w.show, w.tier
    sheet = {"lines": [{"username": "olga", "role": "artist", "bps": 10_000}]}

    def body(path: str, json: dict[str, Any]) -> Call:
        return lambda _w, _role: _body(path, json)

    return {
        ("post", "/api/rooms/{slug}/socket-ticket"): plain(f"/api/rooms/{s}/socket-ticket"),
        ("post", "/api/rooms/{slug}/publish-ticket"): plain(f"/api/rooms/{s}/publish-ticket"),
        ("post", "/api/rooms/{slug}/tips"): body(f"/api/rooms/{s}/tips", {"amount": 300}),
        ("post", "/api/rooms/{slug}/song-requests/{request_id}/boosts"):
            body(f"/api/rooms/{s}/song-requests/{w.request_id}/boosts", {"amount": 300}),
        ("get", "/api/rooms/{slug}/tip-settings"): plain(f"/api/rooms/{s}/tip-settings"),
        ("put", "/api/rooms/{slug}/tip-settings"): body(f"/api/rooms/{s}/tip-settings", {"tip_min": 100}),
        ("get", "/api/me/payments"): plain("/api/me/payments"),
        ("post", "/api/payments/{payment_id}/refund"): refund_payment,
        ("get", "/api/shows/{show_id}/analytics"): plain(f"/api/shows/{show}/analytics"),
        ("get", "/api/shows/{show_id}/analytics/{series}.csv"): plain(f"/api/shows/{show}/analytics/revenue.csv"),
        ("get", "/api/shows/{show_id}/analytics/{chart}.svg"): plain(f"/api/shows/{show}/analytics/revenue.svg"),
        SHOW_PAGE: plain(f"/api/shows/{show}"),
        ("post", "/api/shows/{show_id}/tiers"): body(f"/api/shows/{show}/tiers", {"name": "Cheap", "price": 1}),
        ("patch", "/api/shows/{show_id}/tiers/{tier_id}"): body(f"/api/shows/{show}/tiers/{tier}", {"price": 2_500}),
        ("post", "/api/shows/{show_id}/comps"): body(f"/api/shows/{show}/comps",
                                                    {"username": "cora", "tier_id": tier}),
        ("post", "/api/shows/{show_id}/orders"): body(f"/api/shows/{show}/orders", {"tier_id": tier}),
        ("get", "/api/orders/{order_id}"): plain(f"/api/orders/{w.order}"),
        ("post", "/api/tickets/{ticket_id}/refund"): refund_ticket,
        ("post", "/api/shows/{show_id}/viewing-sessions"): body(f"/api/shows/{show}/viewing-sessions",
                                                               {"takeover": True}),
        ("post", "/api/viewing-sessions/{session}/heartbeat"): heartbeat,
        ("get", "/api/me/tickets"): plain("/api/me/tickets"),
        ("post", "/api/tickets/{ticket_id}/transfer"): transfer,
        ("get", "/api/me/balances"): plain("/api/me/balances"),
        ("get", "/api/me/statement"): plain("/api/me/statement?from=2020-01-01&to=2099-12-31&format=json"),
        ("post", "/api/me/payout-account"): plain("/api/me/payout-account"),
        ("get", "/api/me/payout-account"): plain("/api/me/payout-account"),
        ("get", "/api/me/payout-account/refresh"): plain("/api/me/payout-account/refresh"),
        ("get", "/api/me/earnings"): plain("/api/me/earnings"),
        ("get", "/api/me/tax-summary"): plain("/api/me/tax-summary?year=2026"),
        ("get", "/api/rooms/{slug}/split-sheet"): plain(f"/api/rooms/{s}/split-sheet"),
        ("put", "/api/rooms/{slug}/split-sheet"): body(f"/api/rooms/{s}/split-sheet", sheet),
        ("get", "/api/invitations/{token}"): invitation,
        ("post", "/api/invitations/{token}/claim"): claim,
        ("get", "/api/shows/{show_id}/settlement"): plain(f"/api/shows/{show}/settlement"),
        ("get", "/api/shows/{show_id}/setlist.csv"): plain(f"/api/shows/{show}/setlist.csv"),
    }


async def _body(path: str, json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return path, {"json": json}


def leaks(w: World, role: str, text: str) -> list[str]:
    """What of anyone else's an ``/api/me`` answer to ``role`` holds."""
    others = [mark for mark, whose in w.marks.items() if role not in whose]
    return sorted(mark for mark in others if re.search(rf"{re.escape(mark)}(?![0-9A-Za-z])", text))


async def test_money_authorization_matrix(tmp_path: Path) -> None:
    async with running(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", payout_hold_s=0.0) as srv:
        w = await build(srv)
        table = calls(w)
        assert set(table) == set(RULES)
        wrong: list[str] = []
        for route, rule in RULES.items():
            method, _ = route
            for role in ROLES:
                path, kw = await table[route](w, role)
                r = await srv.http.request(method.upper(), path, headers=w.h(role), allow_redirects=False, **kw)
                text = await r.text()
                if r.status != rule[role]:
                    wrong.append(f"{method.upper()} {route[1]} as {role}: {r.status} (rule {rule[role]}) {text[:160]}")
                elif route[1].startswith("/api/me/") and (leaked := leaks(w, role, text)):
                    wrong.append(f"{method.upper()} {route[1]} as {role} shows {leaked}")
                elif route == SHOW_PAGE and role != "olga" and ('"revenue"' in text or '"sold"' in text):
                    wrong.append(f"GET {route[1]} as {role} shows the owner's figures")
        assert not wrong, "\n".join(wrong)
        await srv.ledger_ok()
