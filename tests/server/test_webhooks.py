"""``POST /webhooks/stripe``: signatures checked before parsing; forged, stale and unsigned
deliveries are 400 JSON, counted, and write nothing; events in any order count once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY

from payments import tables as pt
from payments.providers.sandbox import new_id
from tests.support.money import Running, running


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("nal_webhooks_total", {"outcome": reason}) or 0.0


def event(type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id("evt"), "object": "event", "api_version": "2025-03-31.basil", "created": int(time.time()),
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type_}


def completed(tip_id: str, session: str, intent: str) -> dict[str, Any]:
    return event("checkout.session.completed", {
        "id": session, "object": "checkout.session", "amount_total": 500, "currency": "usd",
        "client_reference_id": tip_id, "metadata": {"nal_payment": tip_id}, "mode": "payment",
        "payment_intent": intent, "payment_status": "paid", "status": "complete"})


def refunded(tip_id: str, intent: str, amount_refunded: int) -> dict[str, Any]:
    return event("charge.refunded", {
        "id": "ch_" + intent, "object": "charge", "amount": 500, "amount_refunded": amount_refunded,
        "currency": "usd", "metadata": {"nal_payment": tip_id}, "payment_intent": intent,
        "refunded": amount_refunded == 500, "status": "succeeded"})


async def count_events(srv: Running) -> int:
    async with srv.services.engine.connect() as conn:
        n = (await conn.execute(sa.select(sa.func.count()).select_from(pt.payment_events))).scalar()
    return int(n or 0)


async def new_tip(srv: Running) -> tuple[str, str, str]:
    owner, _ = await srv.signup("perf")
    fan, _ = await srv.signup("fay")
    slug = await srv.room(owner)
    tip = await srv.tip(slug, fan, amount=500)
    me = await (await srv.http.get("/api/me", headers=owner)).json()
    return tip["tip_id"], tip["checkout_url"].rsplit("/", 1)[1], f"user:{me['id']}"


async def test_forged_stale_and_unsigned_are_refused_counted_and_write_nothing(
        tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        tip_id, session, owner = await new_tip(srv)
        good = completed(tip_id, session, "pi_1")
        cases = [
            ("bad_signature", {"secret": "whsec_not_ours"}),
            ("stale_signature", {"skew": -301.0}),
            ("stale_signature", {"skew": 360.0}),
            ("no_signature", {"signature": ""}),
            ("no_signature", {"signature": "t=123"}),
            ("bad_signature", {"signature": "t=abc,v1=00"}),
        ]
        for reason, how in cases:
            before = refused(reason)
            if "skew" in how:  # from now, not from when the list was built: a loaded box is slow
                how = {"at": time.time() + how["skew"]}
            r = await srv.webhook(good, **how)
            assert r.status == 400, reason
            assert (await r.json())["error"] == reason
            assert refused(reason) == before + 1
        body = json.dumps(good).encode()
        r = await srv.http.post("/webhooks/stripe", data=body + b" ", headers={
            "Stripe-Signature": __import__("payments.signing", fromlist=["sign"]).sign(
                srv.services.webhook_secrets[0], int(time.time()), body)})
        assert r.status == 400  # the signature covers the exact bytes
        assert await count_events(srv) == 0
        assert "earnings" not in await srv.balances(owner)
        mine = (await srv.services.book.get(tip_id))
        assert mine is not None and mine.status == "pending"
        r = await srv.webhook(good)
        assert r.status == 200 and await r.json() == {"received": True}
        assert (await srv.balances(owner))["earnings"] > 0


async def test_a_rotated_secret_is_accepted(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url, stripe_webhook_secret="whsec_new,whsec_old") as srv:
        tip_id, session, owner = await new_tip(srv)
        assert (await srv.webhook(completed(tip_id, session, "pi_2"), secret="whsec_old")).status == 200
        assert (await srv.balances(owner))["earnings"] > 0


async def test_refunds_before_and_after_completion_in_any_order_count_once(
        tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        tip_id, session, owner = await new_tip(srv)
        first, full, done = refunded(tip_id, "pi_3", 200), refunded(tip_id, "pi_3", 500), completed(tip_id, session, "pi_3")
        for ev in (full, first, done, full, first, done):  # the newest refund first, the checkout last
            assert (await srv.webhook(ev)).status == 200
        assert await count_events(srv) == 3
        balances = await srv.balances(owner)
        assert balances["earnings"] == 0
        payment = await srv.services.book.get(tip_id)
        assert payment is not None and (payment.status, payment.refunded) == ("refunded", 500)
        await srv.ledger_ok()


async def test_a_dispute_closed_before_it_was_created_counts_once(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        tip_id, session, owner = await new_tip(srv)
        dispute = {"id": "dp_1", "object": "dispute", "amount": 500, "charge": "ch_4", "currency": "usd",
                   "payment_intent": "pi_4", "reason": "fraudulent", "metadata": {}}
        assert (await srv.webhook(completed(tip_id, session, "pi_4"))).status == 200
        closed = event("charge.dispute.closed", {**dispute, "status": "lost"})
        created = event("charge.dispute.created", {**dispute, "status": "needs_response"})
        for ev in (closed, created, closed):
            assert (await srv.webhook(ev)).status == 200
        assert (await srv.balances(owner)).get("earnings", 0) == 0
        payment = await srv.services.book.get(tip_id)
        assert payment is not None and payment.status == "charged_back"
        await srv.ledger_ok()


async def test_unknown_event_types_and_bad_bodies(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        assert (await srv.webhook(event("customer.created", {"id": "cus_1"}))).status == 200
        before = refused("bad_event")
        r = await srv.webhook({"id": "evt_x", "object": "event", "type": "charge.refunded", "data": {"object": {}}})
        assert r.status == 400 and (await r.json())["error"] == "bad_event"
        assert refused("bad_event") == before + 1


async def test_an_event_the_ledger_refuses_for_good_is_acknowledged_once_and_counted(
        tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        tip_id, session, owner = await new_tip(srv)
        broken = json.dumps({"sheet": [["user:1", 5000, "artist", "half a sheet"]]})
        async with srv.services.engine.begin() as conn:
            await conn.execute(pt.payments.update().where(pt.payments.c.id == tip_id).values(meta=broken))
        before = refused("rejected")
        paid = completed(tip_id, session, "pi_5")
        r = await srv.webhook(paid)
        assert (r.status, await r.json()) == (200, {"received": True, "applied": False})
        assert refused("rejected") == before + 1
        assert await count_events(srv) == 1
        assert (await srv.webhook(paid)).status == 200  # seen: a duplicate now, not refused again
        assert refused("rejected") == before + 1
        payment = await srv.services.book.get(tip_id)
        assert payment is not None and payment.status == "pending"
        assert "earnings" not in await srv.balances(owner)
        await srv.ledger_ok()
