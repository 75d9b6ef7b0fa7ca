"""Shows, tiers, comps, tickets over HTTP: the authorization matrix and the wire shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.api import make_room, signup_login

ROLES = ("guest", "fan", "holder", "host", "owner", "other_owner")


@dataclass
class World:
    api: Any
    slug: str
    show_id: str
    tier_id: str
    ticket_id: str
    headers: dict[str, dict[str, str]]

    async def call(self, role: str, method: str, path: str, body: Any = None) -> Any:
        return await self.api.request(method, path, json=body, headers=self.headers[role])


@pytest.fixture
async def world(api: Any) -> World:
    headers = {"guest": {}}
    for role in ROLES[1:]:
        headers[role] = await signup_login(api, f"{role}_user")
    room = await make_room(api, headers["owner"], "Paid Gig")
    await make_room(api, headers["other_owner"], "Other Gig")
    r = await api.post(f"/api/rooms/{room['slug']}/hosts", json={"username": "host_user"}, headers=headers["owner"])
    assert r.status == 201, await r.text()
    r = await api.post(f"/api/rooms/{room['slug']}/shows", headers=headers["owner"],
                       json={"title": "Release night", "starts_at": "2030-05-01T20:00:00Z", "currency": "eur"})
    assert r.status == 201, await r.text()
    show = await r.json()
    r = await api.post(f"/api/shows/{show['id']}/tiers", headers=headers["owner"],
                       json={"name": "Front row", "price": 2500, "quantity": 50, "latency_class": "realtime",
                             "chat": True, "replay": True})
    assert r.status == 201, await r.text()
    tier = await r.json()
    r = await api.post(f"/api/shows/{show['id']}/comps", headers=headers["owner"],
                       json={"username": "holder_user", "tier_id": tier["id"]})
    assert r.status == 201, await r.text()
    ticket = await r.json()
    return World(api, room["slug"], show["id"], tier["id"], ticket["id"], headers)


def expect(owner: int, guest: int = 401, others: int = 403) -> dict[str, int]:
    return {"guest": guest, "fan": others, "holder": others, "host": others, "owner": owner, "other_owner": others}


@pytest.mark.parametrize("role", ROLES)
async def test_authorization_matrix(world: World, role: str) -> None:
    w = world
    cases: list[tuple[str, str, Any, dict[str, int]]] = [
        ("POST", f"/api/rooms/{w.slug}/shows", {"title": "Encore", "starts_at": "2030-05-02T20:00:00Z"}, expect(201)),
        ("GET", f"/api/shows/{w.show_id}", None, dict.fromkeys(ROLES, 200)),
        ("GET", f"/api/rooms/{w.slug}/shows", None, dict.fromkeys(ROLES, 200)),
        ("PATCH", f"/api/shows/{w.show_id}", {"title": "Release night!"}, expect(200)),
        ("POST", f"/api/shows/{w.show_id}/tiers", {"name": "Back", "price": 1000}, expect(201)),
        ("PATCH", f"/api/shows/{w.show_id}/tiers/{w.tier_id}", {"price": 2600}, expect(200)),
        ("POST", f"/api/shows/{w.show_id}/comps", {"username": "fan_user", "tier_id": w.tier_id}, expect(201)),
        ("GET", "/api/me/tickets", None, {**dict.fromkeys(ROLES, 200), "guest": 401}),
        ("POST", f"/api/shows/{w.show_id}/orders", {"tier_id": w.tier_id}, {**dict.fromkeys(ROLES, 201), "guest": 401}),
        ("POST", f"/api/shows/{w.show_id}/viewing-sessions", {},
         {**dict.fromkeys(ROLES, 201), "guest": 401, "fan": 403, "other_owner": 403}),
        ("POST", f"/api/tickets/{w.ticket_id}/transfer", {"username": "fan_user"},
         {**dict.fromkeys(ROLES, 404), "guest": 401, "holder": 200}),
        ("POST", f"/api/tickets/{w.ticket_id}/refund", None, expect(200)),
    ]
    for method, path, body, answers in cases:
        r = await w.call(role, method, path, body)
        assert r.status == answers[role], (method, path, role, await r.text())
        if r.status >= 400:
            assert (await r.json())["error"]


async def test_public_show_lists_tiers_and_only_the_owner_sees_sales(world: World) -> None:
    w = world
    public = await (await w.call("guest", "GET", f"/api/shows/{w.show_id}")).json()
    assert public["currency"] == "EUR" and public["starts_at"] == "2030-05-01T20:00:00Z"
    (tier,) = public["tiers"]
    assert tier["price"] == 2500 and tier["remaining"] == 49 and tier["latency_class"] == "realtime"
    assert tier["on_sale"] and tier["chat"] and tier["replay"] and "sold" not in tier
    owner = await (await w.call("owner", "GET", f"/api/shows/{w.show_id}")).json()
    assert owner["tiers"][0]["sold"] == 1


async def test_tickets_are_only_their_owners(world: World) -> None:
    w = world
    mine = await (await w.call("holder", "GET", "/api/me/tickets")).json()
    assert [t["id"] for t in mine["tickets"]] == [w.ticket_id]
    assert mine["tickets"][0]["show_id"] == w.show_id and mine["tickets"][0]["latency_class"] == "realtime"
    assert (await (await w.call("fan", "GET", "/api/me/tickets")).json())["tickets"] == []
    r = await w.call("holder", "POST", f"/api/tickets/{w.ticket_id}/transfer", {"username": "fan_user"})
    assert r.status == 200
    assert (await (await w.call("holder", "GET", "/api/me/tickets")).json())["tickets"] == []
    assert len((await (await w.call("fan", "GET", "/api/me/tickets")).json())["tickets"]) == 1


@pytest.mark.parametrize("body,code", [
    ({"name": "X"}, "bad_field"),
    ({"name": "X", "price": -5}, "bad_field"),
    ({"name": "X", "price": 500, "min_price": 900}, "bad_field"),
    ({"name": "X", "price": 500, "latency_class": "instant"}, "bad_field"),
    ({"name": "X", "price": 500, "sales_start": "yesterday"}, "bad_field"),
    ({"name": "X", "price": 500, "colour": "red"}, "bad_field"),
])
async def test_bad_tiers_are_refused_clearly(world: World, body: dict[str, Any], code: str) -> None:
    r = await world.call("owner", "POST", f"/api/shows/{world.show_id}/tiers", body)
    assert r.status == 400
    assert (await r.json())["error"] == code


async def test_comps_respect_the_quota(world: World) -> None:
    w = world
    r = await w.call("owner", "PATCH", f"/api/shows/{w.show_id}/tiers/{w.tier_id}", {"quantity": 1})
    assert r.status == 200 and (await r.json())["remaining"] == 0
    r = await w.call("owner", "POST", f"/api/shows/{w.show_id}/comps", {"username": "fan_user", "tier_id": w.tier_id})
    assert r.status == 409 and (await r.json())["error"] == "sold_out"
    r = await w.call("owner", "GET", "/api/shows/shw_nope")
    assert r.status == 404 and (await r.json())["error"] == "no_show"
