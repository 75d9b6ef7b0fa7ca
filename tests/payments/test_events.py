"""payments.events: Stripe's documented event shapes to typed values; bad shapes are EventError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.errors import EventError
from payments.events import (
    ChargeRefunded,
    ChargeSucceeded,
    CheckoutCompleted,
    CheckoutEnded,
    DisputeChanged,
    Ignored,
    WebhookEvent,
    parse,
)
from payments.providers import CheckoutRequest, LineItem
from payments.providers.sandbox import SandboxProvider


def body(type_: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "type": type_, "created": 5, "data": {"object": obj}}).encode()


SESSION = {"id": "cs_1", "object": "checkout.session", "amount_total": 500, "currency": "usd",
           "client_reference_id": "tip_1", "payment_intent": "pi_1", "payment_status": "paid"}


def test_checkout_events() -> None:
    e = parse(body("checkout.session.completed", SESSION))
    assert (e.id, e.type, e.created) == ("evt_1", "checkout.session.completed", 5)
    assert e.payload == CheckoutCompleted("cs_1", "tip_1", "pi_1", 500, "USD", True)
    unpaid = parse(body("checkout.session.completed", {**SESSION, "payment_status": "unpaid"})).payload
    assert isinstance(unpaid, CheckoutCompleted) and not unpaid.paid
    later = parse(body("checkout.session.async_payment_succeeded", {**SESSION, "payment_status": "unpaid"})).payload
    assert isinstance(later, CheckoutCompleted) and later.paid
    assert parse(body("checkout.session.expired", SESSION)).payload == CheckoutEnded("cs_1", "tip_1", "expired")
    assert parse(body("checkout.session.async_payment_failed", SESSION)).payload == CheckoutEnded("cs_1", "tip_1", "failed")


def test_charge_and_dispute_events() -> None:
    charge = {"id": "ch_1", "amount": 500, "amount_refunded": 200, "currency": "eur", "payment_intent": "pi_1",
              "metadata": {"nal_payment": "tip_1"}}
    assert parse(body("charge.refunded", charge)).payload == ChargeRefunded("ch_1", "pi_1", "tip_1", 500, 200, "EUR")
    dispute = {"id": "dp_1", "amount": 500, "charge": {"id": "ch_1"}, "payment_intent": "pi_1", "status": "lost"}
    assert parse(body("charge.dispute.closed", dispute)).payload == DisputeChanged("dp_1", "ch_1", "pi_1", 500, "lost", True)
    assert parse(body("customer.created", {"id": "cus_1"})).payload == Ignored("customer.created")


@pytest.mark.parametrize("raw", [
    b"", b"[]", b"not json", b'{"object": "event"}', b'{"id": "x_1", "object": "event", "type": "t", "data": {"object": {}}}',
    body("checkout.session.completed", {"id": "cs_1"}),
    body("charge.refunded", {"id": "ch_1", "amount": -1, "amount_refunded": 0, "currency": "usd"}),
    body("charge.refunded", {"id": "ch_1", "amount": True, "amount_refunded": 0, "currency": "usd"}),
    json.dumps({"id": "evt_1", "object": "event", "type": "x", "data": []}).encode(),
    b"x" * (256 * 1024 + 1),
])
def test_bad_shapes(raw: bytes) -> None:
    with pytest.raises(EventError):
        parse(raw)


async def test_the_sandbox_sends_what_the_parser_reads() -> None:
    sent: list[bytes] = []

    async def deliver(raw: bytes, _signature: str) -> None:
        sent.append(raw)

    sandbox = SandboxProvider("http://x", "whsec_s", clock=lambda: 1000.0)
    sandbox.attach(deliver)
    request = CheckoutRequest("tip_9", 700, "USD", (LineItem("Tip", 700),), "http://x/ok", "http://x/no", 5000, "room:r",
                              metadata={"nal_payment": "tip_9"})
    session = await sandbox.create_checkout(request)
    assert await sandbox.create_checkout(request) == session  # the idempotency key
    await sandbox.pay(session.id)
    paid = sandbox.sessions[session.id]
    assert paid.payment_intent is not None
    await sandbox.refund(paid.payment_intent, 300, "k1")
    await sandbox.refund(paid.payment_intent, 300, "k1")
    await sandbox.open_dispute(session.id)
    await sandbox.close_dispute(session.id, won=False)
    kinds = [type(parse(raw).payload) for raw in sent]
    assert kinds == [CheckoutCompleted, ChargeSucceeded, ChargeRefunded, DisputeChanged, DisputeChanged]
    charge = parse(sent[1]).payload
    assert isinstance(charge, ChargeSucceeded) and (charge.reference, charge.charge) == ("tip_9", paid.charge)
    refund = parse(sent[2]).payload
    assert isinstance(refund, ChargeRefunded) and (refund.reference, refund.amount_refunded) == ("tip_9", 300)


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_event_error(raw: bytes) -> None:
    try:
        event = parse(raw)
    except EventError:
        return  # refused with our own error: fine; anything else fails the test
    assert isinstance(event, WebhookEvent)
