"""Stripe behind ``PaymentProvider``: Checkout Sessions and refunds through the official
``stripe`` library's ``StripeClient`` on its aiohttp-based async HTTP client.

Every create call carries an idempotency key derived from our own id (``checkout:{payment}``,
``refund:...``), so a retried request never makes a second session or refund. Sessions are
``mode=payment`` with ``client_reference_id`` (our payment id), ``metadata``, and
``payment_intent_data`` carrying the same metadata and the show's or room's
``transfer_group`` (separate charges and transfers, DESIGN.md). Library errors are wrapped
in ``ProviderError`` here, at the boundary.

https://docs.stripe.com/api/checkout/sessions/create, /api/refunds/create
"""

from __future__ import annotations

from typing import Any

import stripe

from payments.errors import ProviderError
from payments.providers import CheckoutRequest, CheckoutSession


def session_params(req: CheckoutRequest) -> dict[str, Any]:
    meta = dict(req.metadata)
    return {
        "mode": "payment",
        "client_reference_id": req.reference,
        "metadata": meta,
        "line_items": [
            {"price_data": {"currency": req.currency.lower(), "unit_amount": item.amount,
                            "product_data": {"name": item.name}},
             "quantity": item.quantity}
            for item in req.line_items
        ],
        "payment_intent_data": {"metadata": meta, "transfer_group": req.transfer_group},
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
        "expires_at": req.expires_at,
    }


class StripeProvider:
    name = "stripe"

    def __init__(self, secret_key: str, api_base: str = "", max_network_retries: int = 2) -> None:
        if not secret_key:
            raise ProviderError("--payments stripe needs --stripe-secret-key")
        self._http = stripe.AIOHTTPClient()
        self.client = stripe.StripeClient(
            secret_key, http_client=self._http, max_network_retries=max_network_retries,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        )

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        try:
            s = await self.client.v1.checkout.sessions.create_async(
                session_params(request),  # type: ignore[arg-type]  # a plain dict of the documented shape
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the checkout: {exc.user_message or exc}") from exc
        if not s.url:
            raise ProviderError("Stripe returned a session without a url")
        return CheckoutSession(s.id, s.url, s.expires_at)

    async def refund(self, payment_intent: str, amount: int | None, idempotency_key: str) -> str:
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = amount
        try:
            refund = await self.client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the refund: {exc.user_message or exc}") from exc
        return refund.id

    async def reference_of(self, payment_intent: str) -> str | None:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(payment_intent)
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe did not return {payment_intent}: {exc}") from exc
        metadata = intent.to_dict().get("metadata") or {}
        ref = metadata.get("nal_payment") if isinstance(metadata, dict) else None
        return ref if isinstance(ref, str) else None

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]
