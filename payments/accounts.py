"""The chart of accounts.

An account is named by ``(party, kind, currency)``. Every balance is the plain sum of the
account's postings, and every transaction sums to zero per currency, so:

- accounts of people and of the platform are positive when the platform owes them
  (``earnings``, ``commission``, ``fee``, ``held``, ``payout_pending``, ``in_transit``);
- the processor's ``clearing`` account is negative by the money the processor holds for us
  (money comes in there, refunds and payouts go back out through it);
- ``recoupable`` is negative by what a party still owes (unrecouped advance, lost dispute).

Parties are strings: ``user:{id}``, ``platform``, ``processor:{name}``, ``show:{id}``.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass, field

from payments.errors import InvalidAmount

PLATFORM = "platform"
NO_NEGATIVE = 1
"""Account flag: the balance may never go below zero."""

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class AccountKind(enum.Enum):
    # Members are singletons, so identity hashing is correct and much cheaper than Enum's.
    __hash__ = object.__hash__

    CLEARING = "clearing"
    FEE = "fee"
    COMMISSION = "commission"
    EARNINGS = "earnings"
    RECOUPABLE = "recoupable"
    ROYALTY_POOL = "royalty_pool"
    HELD = "held"
    PAYOUT_PENDING = "payout_pending"
    IN_TRANSIT = "in_transit"


FLAGS: dict[AccountKind, int] = {
    AccountKind.HELD: NO_NEGATIVE,
    AccountKind.PAYOUT_PENDING: NO_NEGATIVE,
    AccountKind.IN_TRANSIT: NO_NEGATIVE,
}


def check_currency(currency: str) -> str:
    if not _CURRENCY.match(currency):
        raise InvalidAmount(f"currency must be three upper-case letters (ISO 4217), got {currency!r}")
    return currency


def check_positive(amount: int, what: str = "amount") -> int:
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount(f"{what} must be a positive integer of minor units, got {amount!r}")
    return amount


@dataclass(frozen=True)
class AccountRef:
    """An account's name. Hashing is precomputed: refs are dict keys on the hot path."""

    party: str
    kind: AccountKind
    currency: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.party, self.kind.value, self.currency)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def flags(self) -> int:
        return FLAGS.get(self.kind, 0)

    def __str__(self) -> str:
        return f"{self.party}/{self.kind.value}/{self.currency}"


@functools.lru_cache(maxsize=1 << 16)
def account_ref(party: str, kind: AccountKind, currency: str) -> AccountRef:
    """The shared ``AccountRef`` for these names (equal refs are then also identical: cheap lookups)."""
    return AccountRef(party, kind, currency)


def processor_party(processor: str) -> str:
    return f"processor:{processor}"


def show_party(show: str) -> str:
    return f"show:{show}"
