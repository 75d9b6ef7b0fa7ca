"""Stripe Connect behind ``PayoutRail``: connected accounts, account links and transfers
through the official library's ``StripeClient`` (the one ``StripeProvider`` holds).

Accounts are made with controller properties, as Stripe recommends instead of account
types: Stripe collects requirements and takes the fees and losses from the platform,
and the account gets the Express Dashboard; the ``transfers`` capability is requested.
Account links (``account_onboarding``) are single use and short lived: the caller hands
the URL to the browser and never logs it; the refresh URL mints a new one.
Transfers are separate charges and transfers: ``destination``, ``transfer_group`` and,
where known, ``source_transaction``, each with the payout's idempotency key. A refund after
settlement reverses part of a transfer (``/v1/transfers/{id}/reversals``) with the
reversal's own idempotency key; Stripe refusing it (the connected account cannot cover it)
is ``TransferRefused``.

https://docs.stripe.com/connect/migrate-to-controller-properties, /api/accounts/create,
/api/account_links/create, /api/transfers/create, /api/transfer_reversals/create
"""

from __future__ import annotations

from typing import Any

import stripe

from payments.errors import ProviderError, TransferRefused
from payments.providers.rails import OpenedAccount, ReversalRequest, TransferRequest

CONTROLLER = {
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "requirement_collection": "stripe",
    "stripe_dashboard": {"type": "express"},
}


def account_params(party: str, email: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "controller": CONTROLLER,
        "capabilities": {"transfers": {"requested": True}},
        "metadata": {"nal_party": party},
    }
    if email:
        params["email"] = email
    return params


def transfer_params(req: TransferRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": req.amount, "currency": req.currency.lower(), "destination": req.account_id,
        "transfer_group": req.transfer_group, "metadata": {"nal_payout": req.payout_id},
    }
    if req.source_transaction:
        params["source_transaction"] = req.source_transaction
    return params


class StripeConnect:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    async def open_account(self, party: str, email: str | None) -> OpenedAccount:
        try:
            account = await self.client.v1.accounts.create_async(
                account_params(party, email),  # type: ignore[arg-type]  # a plain dict of the documented shape
                {"idempotency_key": f"payout-account:{party}"},
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the connected account: {exc.user_message or exc}") from exc
        state = account.to_dict()
        req = state.get("requirements")
        due = req.get("currently_due") if isinstance(req, dict) else None
        return OpenedAccount(account.id, ready=state.get("payouts_enabled") is True,
                             requirements_due=tuple(str(d) for d in due) if isinstance(due, list) else ())

    async def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str | None:
        params = {"account": account_id, "refresh_url": refresh_url, "return_url": return_url,
                  "type": "account_onboarding"}
        try:
            link = await self.client.v1.account_links.create_async(params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the account link: {exc.user_message or exc}") from exc
        return str(link.url)

    async def transfer(self, request: TransferRequest) -> str:
        try:
            tr = await self.client.v1.transfers.create_async(
                transfer_params(request),  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            raise TransferRefused(f"Stripe refused the transfer: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the transfer: {exc.user_message or exc}") from exc
        return str(tr.id)

    async def reverse(self, request: ReversalRequest) -> str:
        params = {"amount": request.amount, "metadata": {"nal_reversal": request.reversal_id}}
        try:
            rev = await self.client.v1.transfers.reversals.create_async(
                request.transfer_id, params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            raise TransferRefused(f"Stripe refused the reversal: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe refused the reversal: {exc.user_message or exc}") from exc
        return str(rev.id)
