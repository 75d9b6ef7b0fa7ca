"""Errors of the payments package.

::

    PaymentsError
    ├── LedgerUsageError            we were called wrongly (a bug in the caller)
    │   ├── InvalidAmount           not a positive integer of minor units, or a bad currency
    │   ├── InvalidSplit            basis points do not sum to 10,000, empty or duplicate shares
    │   ├── UnbalancedTransaction   postings do not sum to zero per currency
    │   └── IllegalTransition       a dispute or payout step not allowed from its current state
    ├── IdempotencyConflict         the key was used before with different content
    ├── NotFound                    the referenced transaction, dispute or payout does not exist
    ├── InsufficientFunds           an account flagged "may not go negative" would go below zero,
    │                               or a refund/dispute/payout exceeds what is left
    ├── LedgerStorageError          the database failed in a way retrying did not fix
    ├── SignatureError              a webhook's signature is missing, wrong or stale (peer input)
    ├── EventError                  a signed webhook event is not shaped as documented (peer input)
    ├── PaymentStateError           the payment cannot do that now (refund an unpaid tip)
    └── ProviderError               the payment provider failed or refused (wraps stripe errors)
        └── TransferRefused         the provider refused a transfer for good (no retry helps)

Storage errors from SQLAlchemy are wrapped at the boundary (``payments.store``).
"""

from __future__ import annotations


class PaymentsError(Exception):
    """Root of every error this package raises."""


class LedgerUsageError(PaymentsError):
    """The caller passed something the ledger can never accept."""


class InvalidAmount(LedgerUsageError):
    """An amount is not a positive integer of minor units, or the currency is not ISO 4217-shaped."""


class InvalidSplit(LedgerUsageError):
    """A split sheet is empty, has duplicate parties, or its basis points do not sum to 10,000."""


class UnbalancedTransaction(LedgerUsageError):
    """A transaction's postings do not sum to zero in every currency."""


class IllegalTransition(LedgerUsageError):
    """A state machine (dispute, payout) was asked for a step its current state does not allow."""


class IdempotencyConflict(PaymentsError):
    """The idempotency key was already used for a request with different content."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with different content")
        self.key = key


class NotFound(PaymentsError):
    """A referenced transaction, dispute or payout does not exist."""


class InsufficientFunds(PaymentsError):
    """A write would take a protected account below zero or exceed what is left to refund or pay."""


class LedgerStorageError(PaymentsError):
    """The database kept failing (deadlock, serialization) after our retries."""


class SignatureError(PaymentsError):
    """A webhook's ``Stripe-Signature`` is missing, malformed, wrong or outside the tolerance."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class EventError(PaymentsError):
    """A correctly signed event whose body is not the documented shape."""


class PaymentStateError(PaymentsError):
    """The payment is not in a state that allows this (refund what was never paid)."""


class ProviderError(PaymentsError):
    """The provider failed or refused a call (network, API error); wraps the library's error."""


class TransferRefused(ProviderError):
    """The provider refused a transfer for a reason a retry cannot change (bad destination)."""
