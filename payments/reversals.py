"""Refunds and disputes: proportional reversals of an earlier revenue transaction. Pure.

Both work on the *remaining* legs of the original transaction: its postings plus every later
posting on the same accounts by transactions that reference it (earlier refunds, dispute holds
and releases). Splitting against what remains means the last refund always brings every
account of the sale back to exactly zero.

Refund of ``amount``: the credited legs (fee, commission, pool, shares, recoupment) give back
``amount`` split in proportion to what each still holds, and the debited legs (the processor's
clearing account) take back ``amount`` the same way; leftover units go in leg order.

Dispute state machine (rules: one hold, then exactly one outcome)::

    NONE --open--> OPEN --won--> WON
                        --lost--> LOST

- open: each credited leg's proportional part moves to the same party's ``held`` account;
- won: the hold is undone exactly;
- lost: the held funds go back out through the processor's clearing account. A party whose
  earnings are then below zero (paid out before the dispute) has that shortfall moved to its
  ``recoupable`` account: an unrecovered loss, recouped from its future artist or band shares.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from payments.accounts import PLATFORM, AccountKind, AccountRef, account_ref, check_positive
from payments.errors import IllegalTransition, InsufficientFunds
from payments.royalty import Leg, check_balanced, merge
from payments.splits import allocate


@dataclass(frozen=True)
class Refund:
    original_key: str
    amount: int
    reason: str = ""

    def __post_init__(self) -> None:
        check_positive(self.amount)

    def canonical(self) -> list[object]:
        return [self.original_key, self.amount, self.reason]


def _take(remaining: Sequence[Leg], amount: int) -> list[Leg]:
    """``amount`` taken back from the credited legs, in proportion to what each still holds."""
    credited = [leg for leg in remaining if leg.amount > 0]
    left = sum(leg.amount for leg in credited)
    if amount > left:
        raise InsufficientFunds(f"only {left} left to reverse, asked {amount}")
    parts = allocate(amount, [leg.amount for leg in credited])
    return [Leg(leg.account, -part) for leg, part in zip(credited, parts, strict=True)]


def _give(remaining: Sequence[Leg], amount: int) -> list[Leg]:
    """``amount`` given back to the debited legs (the processor's clearing account)."""
    debited = [leg for leg in remaining if leg.amount < 0]
    if amount > -sum(leg.amount for leg in debited):
        raise InsufficientFunds("nothing left on the paying side to reverse")
    parts = allocate(amount, [-leg.amount for leg in debited])
    return [Leg(leg.account, part) for leg, part in zip(debited, parts, strict=True)]


def _sides(remaining: Sequence[Leg], amount: int) -> tuple[list[Leg], list[Leg]]:
    return _take(remaining, amount), _give(remaining, amount)


def plan_refund(remaining: Sequence[Leg], amount: int) -> list[Leg]:
    take, give = _sides(remaining, amount)
    out = merge(take + give)
    check_balanced(out)
    return out


class DisputeState(enum.Enum):
    NONE = "none"
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DisputeStep(enum.Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


DISPUTE_TRANSITIONS: dict[tuple[DisputeState, DisputeStep], DisputeState] = {
    (DisputeState.NONE, DisputeStep.OPEN): DisputeState.OPEN,
    (DisputeState.OPEN, DisputeStep.WON): DisputeState.WON,
    (DisputeState.OPEN, DisputeStep.LOST): DisputeState.LOST,
}


def next_dispute_state(state: DisputeState, step: DisputeStep) -> DisputeState:
    try:
        return DISPUTE_TRANSITIONS[(state, step)]
    except KeyError:
        raise IllegalTransition(f"dispute cannot go {step.value} from {state.value}") from None


@dataclass(frozen=True)
class DisputeRequest:
    """One step of a dispute on the revenue transaction ``original_key``; ``amount`` is the disputed gross."""

    dispute_id: str
    original_key: str
    step: DisputeStep
    amount: int

    def __post_init__(self) -> None:
        check_positive(self.amount)

    def canonical(self) -> list[object]:
        return [self.dispute_id, self.original_key, self.step.value, self.amount]


def held(account: AccountRef) -> AccountRef:
    return account_ref(account.party, AccountKind.HELD, account.currency)


def plan_dispute_open(remaining: Sequence[Leg], amount: int) -> list[Leg]:
    take = _take(remaining, amount)
    legs = take + [Leg(held(leg.account), -leg.amount) for leg in take]
    out = merge(legs)
    check_balanced(out)
    return out


def plan_dispute_won(hold: Sequence[Leg]) -> list[Leg]:
    return [Leg(leg.account, -leg.amount) for leg in hold]


def plan_dispute_lost(
    hold: Sequence[Leg], remaining: Sequence[Leg], amount: int, earnings: Mapping[str, int]
) -> list[Leg]:
    """Held funds go out through clearing; negative earnings become recoupable debt.

    ``earnings`` maps each party of the hold to its current earnings balance.
    """
    legs = [Leg(leg.account, -leg.amount) for leg in hold if leg.account.kind is AccountKind.HELD]
    legs += _give(remaining, amount)
    currency = hold[0].account.currency if hold else ""
    for party, balance in earnings.items():
        if balance < 0 and party != PLATFORM:
            legs.append(Leg(account_ref(party, AccountKind.EARNINGS, currency), -balance))
            legs.append(Leg(account_ref(party, AccountKind.RECOUPABLE, currency), balance))
    out = merge(legs)
    check_balanced(out)
    return out
