"""Webhook events in Stripe's documented shapes, parsed into typed values. Pure.

Only the fields we act on are read; everything else is ignored. A type we do not handle
parses to ``Ignored`` (acknowledged, nothing written). A handled type whose object lacks a
field we need raises ``EventError``.

https://docs.stripe.com/api/events/object, /api/checkout/sessions/object,
/api/charges/object, /api/disputes/object
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from payments.errors import EventError

MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class CheckoutCompleted:
    """``checkout.session.completed`` (``paid`` false for a delayed method) or
    ``checkout.session.async_payment_succeeded`` (always paid)."""

    session_id: str
    reference: str | None
    payment_intent: str | None
    amount: int
    currency: str
    paid: bool


@dataclass(frozen=True)
class CheckoutEnded:
    """``checkout.session.expired`` or ``checkout.session.async_payment_failed``."""

    session_id: str
    reference: str | None
    reason: str  # expired | failed


@dataclass(frozen=True)
class ChargeRefunded:
    """``charge.refunded``: ``amount_refunded`` is cumulative (so out-of-order events never add up twice)."""

    charge: str
    payment_intent: str | None
    reference: str | None
    amount: int
    amount_refunded: int
    currency: str


@dataclass(frozen=True)
class ChargeSucceeded:
    """``charge.succeeded``: the charge behind a payment (what a transfer's
    ``source_transaction`` names); it also proves the payment was made."""

    charge: str
    payment_intent: str | None
    reference: str | None
    amount: int
    currency: str


@dataclass(frozen=True)
class DisputeChanged:
    """``charge.dispute.created`` (``closed`` false) or ``charge.dispute.closed``."""

    dispute: str
    charge: str | None
    payment_intent: str | None
    amount: int
    status: str
    closed: bool


@dataclass(frozen=True)
class AccountUpdated:
    """``account.updated`` (a connected account's onboarding state; Connect endpoint).
    ``requirements_due`` is ``requirements.currently_due`` plus ``past_due``."""

    account: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: tuple[str, ...]


@dataclass(frozen=True)
class TransferReversed:
    """``transfer.reversed``: ``amount_reversed`` is cumulative; ``reference`` is our payout id
    (``metadata[nal_payout]``)."""

    transfer: str
    nal_payout: str | None
    amount: int
    amount_reversed: int


@dataclass(frozen=True)
class PayoutFailed:
    """``payout.failed`` on a connected account (the event's ``account``): its bank payout of
    ``amount`` bounced."""

    payout: str
    account: str
    amount: int
    failure_code: str


@dataclass(frozen=True)
class Ignored:
    type: str


Payload = (CheckoutCompleted | CheckoutEnded | ChargeRefunded | ChargeSucceeded | DisputeChanged | AccountUpdated
           | TransferReversed | PayoutFailed | Ignored)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: int
    payload: Payload


def _str(obj: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise EventError(f"{name!r} must be a non-empty string")
    return value


def _int(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value < 0:
        raise EventError(f"{name!r} must be a non-negative integer")
    return value


def _reference(obj: dict[str, Any]) -> str | None:
    ref = obj.get("client_reference_id")
    meta = obj.get("metadata")
    if not isinstance(ref, str) and isinstance(meta, dict):
        ref = meta.get("nal_payment")
    return ref if isinstance(ref, str) and 0 < len(ref) <= 64 else None


def _currency(obj: dict[str, Any]) -> str:
    cur = _str(obj, "currency")
    assert cur is not None
    return cur.upper()


def _session(type_: str, obj: dict[str, Any]) -> Payload:
    sid = _str(obj, "id")
    assert sid is not None
    if type_ in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        return CheckoutEnded(sid, _reference(obj), "expired" if type_.endswith("expired") else "failed")
    paid = type_ == "checkout.session.async_payment_succeeded" or obj.get("payment_status") == "paid"
    return CheckoutCompleted(sid, _reference(obj), _str(obj, "payment_intent", required=False),
                             _int(obj, "amount_total"), _currency(obj), paid)


def _charge(obj: dict[str, Any]) -> Payload:
    ch = _str(obj, "id")
    assert ch is not None
    return ChargeRefunded(ch, _str(obj, "payment_intent", required=False), _reference(obj),
                          _int(obj, "amount"), _int(obj, "amount_refunded"), _currency(obj))


def _dispute(type_: str, obj: dict[str, Any]) -> Payload:
    dp, status = _str(obj, "id"), _str(obj, "status")
    assert dp is not None and status is not None
    charge = obj.get("charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    return DisputeChanged(dp, charge_id if isinstance(charge_id, str) else None,
                          _str(obj, "payment_intent", required=False), _int(obj, "amount"), status,
                          type_ == "charge.dispute.closed")


def _due(obj: dict[str, Any]) -> tuple[str, ...]:
    req = obj.get("requirements")
    if not isinstance(req, dict):
        return ()
    due: list[str] = []
    for name in ("past_due", "currently_due"):
        items = req.get(name)
        if isinstance(items, list):
            due += [i for i in items if isinstance(i, str) and len(i) <= 255 and i not in due]
    return tuple(due[:100])


def _account(obj: dict[str, Any]) -> Payload:
    acct = _str(obj, "id")
    assert acct is not None
    return AccountUpdated(acct, obj.get("charges_enabled") is True, obj.get("payouts_enabled") is True,
                          obj.get("details_submitted") is True, _due(obj))


def _transfer(obj: dict[str, Any]) -> Payload:
    tr = _str(obj, "id")
    assert tr is not None
    meta = obj.get("metadata")
    ref = meta.get("nal_payout") if isinstance(meta, dict) else None
    return TransferReversed(tr, ref if isinstance(ref, str) and 0 < len(ref) <= 64 else None,
                            _int(obj, "amount"), _int(obj, "amount_reversed"))


def _payout(raw: dict[str, Any], obj: dict[str, Any]) -> Payload:
    po, acct = _str(obj, "id"), _str(raw, "account")
    assert po is not None and acct is not None
    code = obj.get("failure_code")
    return PayoutFailed(po, acct, _int(obj, "amount"), code if isinstance(code, str) else "")


SESSION_TYPES = frozenset({"checkout.session.completed", "checkout.session.expired",
                           "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"})
DISPUTE_TYPES = frozenset({"charge.dispute.created", "charge.dispute.closed"})


def parse(body: bytes) -> WebhookEvent:
    """A verified body as a typed event; ``EventError`` when it is not a documented event."""
    if len(body) > MAX_BODY:
        raise EventError("event body too large")
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"event body is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("object") != "event":
        raise EventError("not an event object")
    eid, type_ = _str(raw, "id"), _str(raw, "type")
    assert eid is not None and type_ is not None
    if not eid.startswith("evt_"):
        raise EventError("event ids start with evt_")
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise EventError("event has no data.object")
    payload: Payload
    if type_ in SESSION_TYPES:
        payload = _session(type_, obj)
    elif type_ == "charge.refunded":
        payload = _charge(obj)
    elif type_ == "charge.succeeded":
        ch = _charge(obj)
        assert isinstance(ch, ChargeRefunded)
        payload = ChargeSucceeded(ch.charge, ch.payment_intent, ch.reference, ch.amount, ch.currency)
    elif type_ in DISPUTE_TYPES:
        payload = _dispute(type_, obj)
    elif type_ == "account.updated":
        payload = _account(obj)
    elif type_ == "transfer.reversed":
        payload = _transfer(obj)
    elif type_ == "payout.failed" and isinstance(raw.get("account"), str):
        payload = _payout(raw, obj)  # a connected account's payout; the platform's own are not ours to book
    else:
        payload = Ignored(type_)
    created = raw.get("created")
    return WebhookEvent(eid, type_, created if type(created) is int else 0, payload)
