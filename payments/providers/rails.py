"""Payout rails: how money leaves the platform, behind one interface.

A rail opens a payout account for a party, mints onboarding links, and sends one transfer
per payout. Every call that creates something carries an idempotency key derived from our
own ids (``payout-account:{party}``, ``payout:{payout id}``), so a retry after a crash
never makes a second account or a second transfer. The sandbox rail is instant and
deterministic (the same key gives the same transfer id); Stripe's is in
``payments.providers.stripe_connect``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OpenedAccount:
    account_id: str
    ready: bool
    """True when payouts can go there at once (the sandbox); else ``account.updated`` says."""
    requirements_due: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransferRequest:
    payout_id: str
    account_id: str
    amount: int
    currency: str
    transfer_group: str
    source_transaction: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"payout:{self.payout_id}"


@dataclass(frozen=True)
class ReversalRequest:
    """Take ``amount`` back from a transfer (a refund after settlement); ``reversal_id`` is ours."""

    reversal_id: str
    transfer_id: str
    amount: int

    @property
    def idempotency_key(self) -> str:
        return f"reversal:{self.reversal_id}"


class PayoutRail(Protocol):
    name: str

    async def open_account(self, party: str, email: str | None) -> OpenedAccount: ...

    async def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str | None:
        """A single-use, short-lived onboarding URL (never log it), or None when none is needed."""
        ...

    async def transfer(self, request: TransferRequest) -> str:
        """Send the payout; the transfer's id (the same id again for a retried request)."""
        ...

    async def reverse(self, request: ReversalRequest) -> str:
        """Reverse part of a transfer; the reversal's id (the same again for a retried request).
        ``TransferRefused`` when the provider will never do it (the account cannot cover it)."""
        ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class SandboxRail:
    """Instant test payouts: accounts are ready at once, transfers land at once."""

    name = "sandbox"

    def __init__(self) -> None:
        self.transfers: dict[str, TransferRequest] = {}
        self.reversals: dict[str, ReversalRequest] = {}

    async def open_account(self, party: str, email: str | None) -> OpenedAccount:
        return OpenedAccount("acct_sandbox_" + _digest(party), ready=True)

    async def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> str | None:
        return None

    async def transfer(self, request: TransferRequest) -> str:
        transfer_id = "tr_sandbox_" + _digest(request.idempotency_key)
        self.transfers.setdefault(transfer_id, request)
        return transfer_id

    async def reverse(self, request: ReversalRequest) -> str:
        reversal_id = "trr_sandbox_" + _digest(request.idempotency_key)
        self.reversals.setdefault(reversal_id, request)
        return reversal_id
