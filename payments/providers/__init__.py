"""Payment providers behind one interface: the sandbox (default) and Stripe.

A provider opens hosted checkout sessions and issues refunds. What happened to a payment
comes back as signed webhook events in Stripe's shapes (``payments.events`` parses them,
``payments.signing`` verifies them), so one webhook handler serves both providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class LineItem:
    name: str
    amount: int
    quantity: int = 1


@dataclass(frozen=True)
class CheckoutRequest:
    """One payment to collect. ``reference`` is our payment id (Stripe's client_reference_id);
    every create call derives its idempotency key from it."""

    reference: str
    amount: int
    currency: str
    line_items: tuple[LineItem, ...]
    success_url: str
    cancel_url: str
    expires_at: int
    transfer_group: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return f"checkout:{self.reference}"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    expires_at: int


class PaymentProvider(Protocol):
    name: str
    """``sandbox`` or ``stripe``: the processor's name in the ledger."""

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    async def refund(self, payment_intent: str, amount: int | None, idempotency_key: str) -> str:
        """Refund ``amount`` (all when ``None``) of a payment; the refund's id. The ledger
        changes when the ``charge.refunded`` event arrives, not here."""
        ...

    async def reference_of(self, payment_intent: str) -> str | None:
        """Our payment id for a PaymentIntent, read back from the provider (for events that
        arrive before the checkout's own), or ``None``."""
        ...

    async def close(self) -> None: ...
