"""Operator metrics of money and tickets (Prometheus, default registry, scraped at /metrics).

One prefix (``nal_``), base units (seconds; money in minor units of its currency, which is
the currency's base unit in our ledger), ``_total`` on counters, and no label that grows with
users, rooms or shows: labels are a payment provider, a payment kind, an outcome, an ISO
currency code, a webhook type from a fixed list, or a ticket latency class.

Payments are counted from the router's ``PaymentSucceeded`` and ``PaymentReversed`` (so a
redelivered webhook, which the ledger applies once, is counted once); webhook events by
type and result where ``POST /webhooks/stripe`` answers; ticket holds where an order takes
one and tickets where a paid order becomes one.
"""

from __future__ import annotations

from prometheus_client import Counter

from payments.checkout import Payment
from payments.events import DISPUTE_TYPES, SESSION_TYPES

PAYMENTS = Counter("nal_payments_total", "Payments by provider, kind (tip, boost, ticket) and outcome (paid, reversed)",
                   ["provider", "kind", "outcome"])
AMOUNTS = Counter("nal_payment_amount_minor_total", "Money paid in (outcome paid) or reversed, in minor units, "
                  "by currency and outcome", ["currency", "outcome"])
WEBHOOK_EVENTS = Counter("nal_webhook_events_total", "Verified webhook events by type and result "
                         "(accepted, rejected)", ["type", "result"])
TICKET_HOLDS = Counter("nal_ticket_holds_total", "Seats held by ticket orders, by latency class", ["latency_class"])
TICKETS_SOLD = Counter("nal_tickets_sold_total", "Tickets issued for paid orders", [])

KNOWN_TYPES = frozenset({*SESSION_TYPES, *DISPUTE_TYPES, "charge.refunded", "account.updated",
                         "transfer.reversed", "payout.failed"})
KINDS = frozenset({"tip", "boost", "ticket"})


def _currency(code: str) -> str:
    return code if len(code) == 3 and code.isalpha() and code.isupper() else "other"


def payment(p: Payment, outcome: str) -> None:
    kind = p.kind if p.kind in KINDS else "other"
    PAYMENTS.labels(p.provider if p.provider in ("sandbox", "stripe") else "other", kind, outcome).inc()
    AMOUNTS.labels(_currency(p.currency), outcome).inc(p.amount)


def webhook_event(type_: str, result: str) -> None:
    WEBHOOK_EVENTS.labels(type_ if type_ in KNOWN_TYPES else "other", result).inc()
