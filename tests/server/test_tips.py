"""Tips through the sandbox provider, end to end over HTTP: checkout, pay, the signed
webhook to our own endpoint, the ledger, the room event; refunds and disputes reverse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from payments import tables as pt
from tests.support.money import Running, running
from tests.support.roomsocket import RoomSocket

NET_OF_500 = 500 - (14 + 30) - 50  # gross - processor fee (2.9% + 30) - 10% commission


async def setup_room(srv: Running) -> tuple[str, dict[str, str], dict[str, str], str, str]:
    owner, _ = await srv.signup("perf")
    fan, fan_token = await srv.signup("fay")
    slug = await srv.room(owner)
    me = await (await srv.http.get("/api/me", headers=owner)).json()
    return slug, owner, fan, fan_token, f"user:{me['id']}"


def of_type(sock: RoomSocket, type_: str) -> list[dict[str, Any]]:
    return [e for e in sock.events if e["type"] == type_]


async def test_a_paid_tip_reaches_the_ledger_and_the_room_once(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        slug, _owner, fan, token, owner_party = await setup_room(srv)
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        tip = await srv.tip(slug, fan, amount=500, message="great set!")
        assert tip["checkout_url"].startswith(f"{srv.url}/sandbox/checkout/cs_test_")
        page = await srv.http.get(tip["checkout_url"].removeprefix(srv.url))
        assert "TEST MODE" in await page.text()
        r = await srv.sandbox(tip["checkout_url"], "pay")
        assert r.status == 200, await r.text()
        await sock.wait_for(lambda: of_type(sock, "tip"))
        got = of_type(sock, "tip")[0]["data"]
        assert {k: got[k] for k in ("id", "from", "amount", "currency", "message")} == {
            "id": tip["tip_id"], "from": "fay", "amount": 500, "currency": "USD", "message": "great set!"}
        assert (await srv.balances(owner_party))["earnings"] == NET_OF_500
        assert (await srv.balances("platform"))["commission"] == 50
        mine = await (await srv.http.get("/api/me/payments", headers=fan)).json()
        assert [(p["id"], p["status"]) for p in mine["payments"]] == [(tip["tip_id"], "paid")]
        again = await srv.sandbox(tip["checkout_url"], "pay")
        assert again.status == 409
        await srv.ledger_ok()
        await sock.ws.close()


async def test_redelivered_and_reordered_events_count_once(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url, sandbox_redeliver=True) as srv:
        slug, owner, fan, token, owner_party = await setup_room(srv)
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        tip = await srv.tip(slug, fan, amount=500, anonymous=True)
        assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 200
        await sock.wait_for(lambda: of_type(sock, "tip"))
        assert (await srv.balances(owner_party))["earnings"] == NET_OF_500
        r = await srv.http.post(f"/api/payments/{tip['tip_id']}/refund", headers=owner)
        assert r.status == 202, await r.text()
        await sock.wait_for(lambda: of_type(sock, "tip.refunded"))
        assert (await srv.balances(owner_party))["earnings"] == 0
        assert (await srv.balances("platform"))["commission"] == 0
        # completed, its charge and the refund, each delivered twice and the older after the newer
        async with srv.services.engine.connect() as conn:
            applied = (await conn.execute(sa.select(sa.func.count()).select_from(pt.payment_events))).scalar()
        assert applied == 3
        assert len(of_type(sock, "tip")) == 1 and of_type(sock, "tip")[0]["data"]["from"] == "Anonymous"
        assert len(of_type(sock, "tip.refunded")) == 1
        await srv.ledger_ok()
        await sock.ws.close()


async def test_disputes_hold_then_release_or_reverse(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        slug, _owner, fan, token, owner_party = await setup_room(srv)
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        won = await srv.tip(slug, fan, amount=500)
        lost = await srv.tip(slug, fan, amount=500)
        for tip in (won, lost):
            assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 200
            assert (await srv.sandbox(tip["checkout_url"], "dispute")).status == 200
        balances = await srv.balances(owner_party)
        assert balances["earnings"] == 0 and balances["held"] == 2 * NET_OF_500
        assert (await srv.sandbox(won["checkout_url"], "dispute/won")).status == 200
        assert (await srv.sandbox(lost["checkout_url"], "dispute/lost")).status == 200
        balances = await srv.balances(owner_party)
        assert balances["earnings"] == NET_OF_500 and balances["held"] == 0
        await sock.wait_for(lambda: of_type(sock, "tip.refunded"))
        assert [e["data"]["id"] for e in of_type(sock, "tip.refunded")] == [lost["tip_id"]]
        mine = {p["id"]: p["status"] for p in (await (await srv.http.get("/api/me/payments", headers=fan)).json())["payments"]}
        assert mine == {won["tip_id"]: "paid", lost["tip_id"]: "charged_back"}
        await srv.ledger_ok()
        await sock.ws.close()


async def test_a_declined_card_leaves_the_checkout_open_and_cancel_expires_it(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        slug, _owner, fan, _token, owner_party = await setup_room(srv)
        tip = await srv.tip(slug, fan, amount=500)
        r = await srv.sandbox(tip["checkout_url"], "decline")
        assert (r.status, (await r.json())["error"]) == (402, "card_declined")
        payment = await srv.services.book.get(tip["tip_id"])
        assert payment is not None and payment.status == "pending"
        assert (await srv.sandbox(tip["checkout_url"], "expire")).status == 200
        payment = await srv.services.book.get(tip["tip_id"])
        assert payment is not None and payment.status == "expired"
        assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 409
        assert (await srv.sandbox(tip["checkout_url"], "refund")).status == 409
        assert (await srv.http.post("/sandbox/checkout/cs_test_nope/pay")).status == 404
        assert "earnings" not in await srv.balances(owner_party)
        await srv.ledger_ok()
