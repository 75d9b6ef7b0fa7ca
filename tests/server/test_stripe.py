"""``--payments stripe`` against a local double of Stripe's API: what the official library
sends (idempotency key, metadata, transfer group), and Stripe-signed webhooks into the
ledger and the room exactly once; refunds through the API, reversed when the event comes."""

from __future__ import annotations

from pathlib import Path

from tests.server.test_webhooks import completed, event, refunded
from tests.support.money import running
from tests.support.roomsocket import RoomSocket
from tests.support.stripe_double import stripe_double

SECRET = "whsec_test_stripe"


async def test_checkout_refund_and_webhooks_through_the_stripe_library(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(
            tmp_path, database_url, payments="stripe", stripe_secret_key="sk_test_double",
            stripe_webhook_secret=f"whsec_old,{SECRET}", stripe_api_base=double.url) as srv:
        owner, _ = await srv.signup("perf")
        fan, token = await srv.signup("fay")
        slug = await srv.room(owner)
        me = await (await srv.http.get("/api/me", headers=owner)).json()
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        tip = await srv.tip(slug, fan, amount=500, message="from stripe")
        tip_id = tip["tip_id"]
        [sent] = double.of("POST", "/v1/checkout/sessions")
        assert sent.headers["Idempotency-Key"] == f"checkout:{tip_id}"
        assert sent.headers["Authorization"] == "Bearer sk_test_double"
        f = sent.form
        assert (f["mode"], f["client_reference_id"], f["metadata[nal_payment]"]) == ("payment", tip_id, tip_id)
        assert f["payment_intent_data[transfer_group]"] == f"room:{slug}"
        assert f["payment_intent_data[metadata][nal_payment]"] == tip_id
        assert (f["line_items[0][price_data][unit_amount]"], f["line_items[0][price_data][currency]"]) == ("500", "usd")
        assert int(f["expires_at"]) > 0
        session = tip["checkout_url"].rsplit("/", 1)[1]
        assert tip["checkout_url"] == f"https://checkout.stripe.com/c/pay/{session}"

        paid = completed(tip_id, session, "pi_stripe_1")
        for _ in range(2):
            assert (await srv.webhook(paid, secret=SECRET)).status == 200
        await sock.wait_for(lambda: any(e["type"] == "tip" for e in sock.events))
        assert (await srv.balances(f"user:{me['id']}"))["earnings"] == 406

        r = await srv.http.post(f"/api/payments/{tip_id}/refund", headers=owner)
        assert r.status == 202, await r.text()
        [refund] = double.of("POST", "/v1/refunds")
        assert (refund.form["payment_intent"], refund.form["amount"]) == ("pi_stripe_1", "500")
        assert refund.headers["Idempotency-Key"] == f"refund:{tip_id}:0:500"
        assert (await srv.balances(f"user:{me['id']}"))["earnings"] == 406  # not until Stripe says so
        assert (await srv.webhook(refunded(tip_id, "pi_stripe_1", 500), secret=SECRET)).status == 200
        await sock.wait_for(lambda: any(e["type"] == "tip.refunded" for e in sock.events))
        assert (await srv.balances(f"user:{me['id']}"))["earnings"] == 0
        assert [e["type"] for e in sock.events if e["type"].startswith("tip")] == ["tip", "tip.refunded"]
        await srv.ledger_ok()
        await sock.ws.close()


async def test_an_event_about_an_unknown_intent_is_read_back_from_stripe(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(
            tmp_path, database_url, payments="stripe", stripe_secret_key="sk_test_double",
            stripe_webhook_secret=SECRET, stripe_api_base=double.url) as srv:
        owner, _ = await srv.signup("perf")
        fan, _ = await srv.signup("fay")
        slug = await srv.room(owner)
        tip_id = (await srv.tip(slug, fan, amount=500))["tip_id"]
        double.intents["pi_early"] = {"nal_payment": tip_id}
        dispute = event("charge.dispute.created", {
            "id": "dp_early", "object": "dispute", "amount": 500, "charge": "ch_early", "currency": "usd",
            "payment_intent": "pi_early", "status": "needs_response", "metadata": {}})
        assert (await srv.webhook(dispute, secret=SECRET)).status == 200
        assert double.of("GET", "/v1/payment_intents/pi_early")
        payment = await srv.services.book.get(tip_id)
        assert payment is not None and (payment.status, payment.dispute_status) == ("paid", "needs_response")
        await srv.ledger_ok()
