"""The sandbox provider: instant test payments that behave like Stripe Checkout.

Sessions live in this process's memory (at most ``MAX_SESSIONS``; the oldest go first). A
session's life is driven by calls the server's sandbox page makes (``pay``, ``decline``,
``expire``, ``refund``, ``open_dispute``, ``close_dispute``); each step produces the events
Stripe would send, in Stripe's documented shapes (``evt_`` ids, ``checkout.session``,
``charge`` and ``dispute`` objects), signed exactly as Stripe signs them, and handed to the
``deliver`` callable the server attaches (it POSTs them to our own ``/webhooks/stripe``).

With ``redeliver=True`` (tests) every delivery is followed by the session's earlier events
again in reverse order and then itself again: each event arrives twice and older events
arrive after newer ones.

This module makes no network calls of its own; nothing here imports the server.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from payments.errors import PaymentStateError, ProviderError
from payments.providers import CheckoutRequest, CheckoutSession
from payments.signing import sign

API_VERSION = "2025-03-31.basil"
MAX_SESSIONS = 100_000
Deliver = Callable[[bytes, str], Awaitable[None]]


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}"


@dataclass
class SandboxSession:
    request: CheckoutRequest
    id: str
    url: str
    created: int
    status: str = "open"  # open | complete | expired
    payment_intent: str | None = None
    charge: str | None = None
    amount_refunded: int = 0
    dispute: str | None = None
    dispute_status: str | None = None
    declined: int = 0
    events: list[bytes] = field(default_factory=list)
    refund_keys: set[str] = field(default_factory=set)

    def session_object(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.id, "object": "checkout.session", "amount_subtotal": r.amount, "amount_total": r.amount,
            "cancel_url": r.cancel_url, "client_reference_id": r.reference, "created": self.created,
            "currency": r.currency.lower(), "expires_at": r.expires_at, "livemode": False,
            "metadata": dict(r.metadata), "mode": "payment", "payment_intent": self.payment_intent,
            "payment_status": "paid" if self.status == "complete" else "unpaid",
            "status": self.status, "success_url": r.success_url,
            "url": self.url if self.status == "open" else None,
        }

    def charge_object(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.charge, "object": "charge", "amount": r.amount, "amount_captured": r.amount,
            "amount_refunded": self.amount_refunded, "created": self.created, "currency": r.currency.lower(),
            "disputed": self.dispute is not None, "livemode": False, "metadata": dict(r.metadata),
            "paid": True, "payment_intent": self.payment_intent,
            "refunded": self.amount_refunded >= r.amount, "status": "succeeded",
            "transfer_group": r.transfer_group,
        }

    def dispute_object(self) -> dict[str, Any]:
        r = self.request
        return {
            "id": self.dispute, "object": "dispute", "amount": r.amount, "charge": self.charge,
            "created": self.created, "currency": r.currency.lower(), "livemode": False, "metadata": {},
            "payment_intent": self.payment_intent, "reason": "fraudulent", "status": self.dispute_status,
        }


class SandboxProvider:
    name = "sandbox"

    def __init__(self, base_url: str, webhook_secret: str, *, redeliver: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.webhook_secret = webhook_secret
        self.redeliver = redeliver
        self.clock = clock
        self.sessions: OrderedDict[str, SandboxSession] = OrderedDict()
        self._by_intent: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        self._deliver: Deliver | None = None

    def attach(self, deliver: Deliver) -> None:
        self._deliver = deliver

    # --- the provider interface ---------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        known = self._by_key.get(request.idempotency_key)
        if known is not None and known in self.sessions:
            s = self.sessions[known]
            return CheckoutSession(s.id, s.url, s.request.expires_at)
        sid = new_id("cs")
        s = SandboxSession(request, sid, f"{self.base_url}/sandbox/checkout/{sid}", int(self.clock()))
        self.sessions[sid] = s
        self._by_key[request.idempotency_key] = sid
        while len(self.sessions) > MAX_SESSIONS:
            _old, gone = self.sessions.popitem(last=False)
            self._by_key.pop(gone.request.idempotency_key, None)
            if gone.payment_intent:
                self._by_intent.pop(gone.payment_intent, None)
        return CheckoutSession(sid, s.url, request.expires_at)

    async def refund(self, payment_intent: str, amount: int | None, idempotency_key: str) -> str:
        s = self._session_by_intent(payment_intent)
        if idempotency_key in s.refund_keys:
            return f"re_{idempotency_key}"
        left = s.request.amount - s.amount_refunded
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            raise PaymentStateError(f"can refund at most {left}")
        s.refund_keys.add(idempotency_key)
        s.amount_refunded += amount
        await self._send(s, "charge.refunded", s.charge_object())
        return f"re_{idempotency_key}"

    async def reference_of(self, payment_intent: str) -> str | None:
        sid = self._by_intent.get(payment_intent)
        return self.sessions[sid].request.reference if sid is not None and sid in self.sessions else None

    async def close(self) -> None:
        self.sessions.clear()

    # --- what the sandbox page does -----------------------------------------------------

    def session(self, session_id: str) -> SandboxSession | None:
        s = self.sessions.get(session_id)
        if s is not None and s.status == "open" and self.clock() >= s.request.expires_at:
            s.status = "expired"
        return s

    def _open(self, session_id: str) -> SandboxSession:
        s = self.session(session_id)
        if s is None:
            raise PaymentStateError("no such checkout session")
        if s.status != "open":
            raise PaymentStateError(f"this checkout session is {s.status}")
        return s

    async def pay(self, session_id: str) -> SandboxSession:
        s = self._open(session_id)
        s.status = "complete"
        s.payment_intent, s.charge = new_id("pi"), new_id("ch")
        self._by_intent[s.payment_intent] = s.id
        await self._send(s, "checkout.session.completed", s.session_object())
        await self._send(s, "charge.succeeded", s.charge_object())
        return s

    def decline(self, session_id: str) -> SandboxSession:
        """The card was declined: the session stays open (the fan may try again); no event."""
        s = self._open(session_id)
        s.declined += 1
        return s

    async def expire(self, session_id: str) -> SandboxSession:
        s = self._open(session_id)
        s.status = "expired"
        await self._send(s, "checkout.session.expired", s.session_object())
        return s

    async def open_dispute(self, session_id: str) -> SandboxSession:
        s = self._paid(session_id)
        if s.dispute is not None:
            raise PaymentStateError("this payment is already disputed")
        s.dispute, s.dispute_status = new_id("dp"), "needs_response"
        await self._send(s, "charge.dispute.created", s.dispute_object())
        return s

    async def close_dispute(self, session_id: str, won: bool) -> SandboxSession:
        s = self._paid(session_id)
        if s.dispute is None or s.dispute_status != "needs_response":
            raise PaymentStateError("no open dispute on this payment")
        s.dispute_status = "won" if won else "lost"
        await self._send(s, "charge.dispute.closed", s.dispute_object())
        return s

    def _paid(self, session_id: str) -> SandboxSession:
        s = self.session(session_id)
        if s is None or s.status != "complete":
            raise PaymentStateError("this checkout session was not paid")
        return s

    def _session_by_intent(self, payment_intent: str) -> SandboxSession:
        sid = self._by_intent.get(payment_intent)
        if sid is None or sid not in self.sessions:
            raise ProviderError(f"no sandbox payment {payment_intent!r}")
        return self.sessions[sid]

    # --- delivery ------------------------------------------------------------------------

    def event_body(self, type_: str, obj: dict[str, Any]) -> bytes:
        event = {
            "id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": int(self.clock()),
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type_,
        }
        return json.dumps(event, separators=(",", ":")).encode()

    async def _send(self, s: SandboxSession, type_: str, obj: dict[str, Any]) -> None:
        body = self.event_body(type_, obj)
        earlier = list(reversed(s.events))
        s.events.append(body)
        order = [body, *earlier, body] if self.redeliver else [body]
        for one in order:
            await self.deliver(one)

    async def deliver(self, body: bytes) -> None:
        if self._deliver is None:
            raise ProviderError("the sandbox has nowhere to deliver webhooks")
        await self._deliver(body, sign(self.webhook_secret, int(self.clock()), body))
