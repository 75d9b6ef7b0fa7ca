"""Buying tickets through the sandbox checkout, end to end over HTTP: holds, the signed
webhook, the ledger, late payments refunded when sold out, refunds by the room's owner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.money import Running, running
from tests.support.wait import wait_until

NET_OF_2000 = 2000 - (58 + 30) - 200  # gross - processor fee (2.9% + 30) - 10% commission
POOL_OF_2000 = NET_OF_2000 // 10  # ticket sales fund the show's royalty pool (performance_bps)


async def setup_show(srv: Running, quantity: int | None = 10, **tier: Any) -> tuple[dict[str, str], str, str]:
    owner, _ = await srv.signup("perf")
    slug = await srv.room(owner)
    r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Release night", "starts_at": "2031-01-01T20:00:00Z"})
    assert r.status == 201, await r.text()
    show_id = (await r.json())["id"]
    r = await srv.http.post(f"/api/shows/{show_id}/tiers", headers=owner,
                            json={"name": "GA", "price": 2000, "quantity": quantity, **tier})
    assert r.status == 201, await r.text()
    return owner, show_id, (await r.json())["id"]


async def order(srv: Running, headers: dict[str, str], show_id: str, tier_id: str, **body: Any) -> Any:
    return await srv.http.post(f"/api/shows/{show_id}/orders", headers=headers, json={"tier_id": tier_id, **body})


async def status_of(srv: Running, headers: dict[str, str], order_id: str) -> str:
    body = await (await srv.http.get(f"/api/orders/{order_id}", headers=headers)).json()
    return str(body["status"])


async def remaining(srv: Running, show_id: str) -> int:
    return int((await (await srv.http.get(f"/api/shows/{show_id}")).json())["tiers"][0]["remaining"])


async def sales(srv: Running, owner: dict[str, str], show_id: str) -> dict[str, int]:
    """The owner's figures of the show's first tier (the studio's live sales)."""
    tier = (await (await srv.http.get(f"/api/shows/{show_id}", headers=owner)).json())["tiers"][0]
    return {k: int(tier[k]) for k in ("sold", "held", "revenue")}


async def test_a_paid_order_is_a_ticket_and_a_ledger_sale(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, show_id, tier_id = await setup_show(srv)
        fan, _ = await srv.signup("fay")
        r = await order(srv, fan, show_id, tier_id)
        assert r.status == 201, await r.text()
        body = await r.json()
        assert body["checkout_url"].startswith(f"{srv.url}/sandbox/checkout/") and body["hold_expires_at"]
        assert await remaining(srv, show_id) == 9  # the hold counts
        assert (await srv.sandbox(body["checkout_url"], "pay")).status == 200
        assert await status_of(srv, fan, body["order_id"]) == "paid"
        tickets = (await (await srv.http.get("/api/me/tickets", headers=fan)).json())["tickets"]
        assert [(t["show_id"], t["tier_id"], t["status"]) for t in tickets] == [(show_id, tier_id, "valid")]
        assert await remaining(srv, show_id) == 9
        me = await (await srv.http.get("/api/me", headers=owner)).json()
        assert (await srv.balances(f"user:{me['id']}"))["earnings"] == NET_OF_2000 - POOL_OF_2000
        assert (await srv.balances(f"show:{show_id}"))["royalty_pool"] == POOL_OF_2000
        await srv.ledger_ok()
        other, _ = await srv.signup("otto")
        r = await srv.http.get(f"/api/orders/{body['order_id']}", headers=other)
        assert r.status == 404  # nobody else's order


async def test_a_payment_after_the_hold_expired_and_sold_out_is_refunded(tmp_path: Path, database_url: str) -> None:
    # The hold must outlast two orders on a loaded box (0.5 s once ran out between them).
    async with running(tmp_path, database_url, ticket_hold_s=5) as srv:
        owner, show_id, tier_id = await setup_show(srv, quantity=1)
        late, _ = await srv.signup("lateuser")
        quick, _ = await srv.signup("quickuser")
        first = await (await order(srv, late, show_id, tier_id)).json()
        r = await order(srv, quick, show_id, tier_id)
        assert r.status == 409 and (await r.json())["error"] == "sold_out"
        await wait_until(lambda: remaining(srv, show_id), lambda n: n == 1)  # the hold expired
        second = await (await order(srv, quick, show_id, tier_id)).json()
        assert (await srv.sandbox(second["checkout_url"], "pay")).status == 200
        assert (await srv.sandbox(first["checkout_url"], "pay")).status == 200
        assert await status_of(srv, late, first["order_id"]) == "refunded_sold_out"

        async def late_payment() -> str:
            mine = await (await srv.http.get("/api/me/payments", headers=late)).json()
            return str(mine["payments"][0]["status"])

        await wait_until(late_payment, lambda s: s == "refunded")
        assert (await (await srv.http.get("/api/me/tickets", headers=late)).json())["tickets"] == []
        assert len((await (await srv.http.get("/api/me/tickets", headers=quick)).json())["tickets"]) == 1
        me = await (await srv.http.get("/api/me", headers=owner)).json()
        assert (await srv.balances(f"user:{me['id']}"))["earnings"] == NET_OF_2000 - POOL_OF_2000
        await srv.ledger_ok()


async def test_the_owner_refunds_a_ticket_and_nobody_else_can(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, show_id, tier_id = await setup_show(srv)
        fan, _ = await srv.signup("fay")
        host, _ = await srv.signup("hugo")
        slug = (await (await srv.http.get(f"/api/shows/{show_id}")).json())["room"]
        assert (await srv.http.post(f"/api/rooms/{slug}/hosts", json={"username": "hugo"}, headers=owner)).status == 201
        body = await (await order(srv, fan, show_id, tier_id)).json()
        assert (await srv.sandbox(body["checkout_url"], "pay")).status == 200
        ticket_id = (await (await srv.http.get("/api/me/tickets", headers=fan)).json())["tickets"][0]["id"]
        assert await sales(srv, owner, show_id) == {"sold": 1, "held": 0, "revenue": 2000}
        for who, status in ((host, 403), (fan, 403), ({}, 401)):
            r = await srv.http.post(f"/api/tickets/{ticket_id}/refund", headers=who)
            assert r.status == status, await r.text()
        r = await srv.http.post(f"/api/tickets/{ticket_id}/refund", headers=owner)
        assert r.status == 202, await r.text()
        assert (await r.json())["status"] == "refunded"
        assert await sales(srv, owner, show_id) == {"sold": 0, "held": 0, "revenue": 0}  # a refund is no sale
        me = await (await srv.http.get("/api/me", headers=owner)).json()

        async def earnings() -> int:
            return (await srv.balances(f"user:{me['id']}")).get("earnings", -1)

        await wait_until(earnings, lambda n: n == 0)
        assert (await srv.http.post(f"/api/tickets/{ticket_id}/refund", headers=owner)).status == 409
        await srv.ledger_ok()


async def test_off_sale_bad_price_and_pay_what_you_want(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, show_id, tier_id = await setup_show(srv, min_price=500)
        fan, _ = await srv.signup("fay")
        r = await order(srv, fan, show_id, tier_id, amount=499)
        assert r.status == 400 and (await r.json())["error"] == "bad_price"
        r = await order(srv, fan, show_id, tier_id, amount=750)
        assert r.status == 201 and (await r.json())["amount"] == 750
        r = await srv.http.patch(f"/api/shows/{show_id}/tiers/{tier_id}", headers=owner,
                                 json={"sales_end": "2001-01-01T00:00:00Z"})
        assert r.status == 200, await r.text()
        r = await order(srv, fan, show_id, tier_id)
        assert r.status == 409 and (await r.json())["error"] == "off_sale"
        r = await srv.http.post(f"/api/shows/{show_id}/orders", json={"tier_id": tier_id})
        assert r.status == 401


async def test_a_free_tier_issues_the_ticket_at_once(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        _owner, show_id, tier_id = await setup_show(srv, quantity=1, price=0)
        fan, _ = await srv.signup("fay")
        r = await order(srv, fan, show_id, tier_id)
        assert r.status == 201, await r.text()
        body = await r.json()
        assert body["checkout_url"] is None and body["status"] == "paid" and body["ticket_id"]
        tickets = (await (await srv.http.get("/api/me/tickets", headers=fan)).json())["tickets"]
        assert [t["id"] for t in tickets] == [body["ticket_id"]]
        other, _ = await srv.signup("otto")
        r = await order(srv, other, show_id, tier_id)
        assert r.status == 409 and (await r.json())["error"] == "sold_out"
