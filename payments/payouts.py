"""Payouts: an enum, a transition table and the legs of each step. Pure.

Rules::

    NONE --requested--> REQUESTED --in_transit--> IN_TRANSIT --paid--> PAID --returned--> RETURNED
                        REQUESTED --failed-->     FAILED
                                                  IN_TRANSIT --failed--> FAILED

- requested: earnings -> payout_pending (only up to the party's available earnings);
- in_transit: payout_pending -> in_transit;
- paid: in_transit -> back out through the processor's clearing account;
- failed: the pending or in-transit money goes back to earnings;
- returned: the bank sent a paid payout back: clearing -> earnings.

Every step names the same payout id, party, amount and currency as the request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from payments.accounts import (
    AccountKind,
    AccountRef,
    account_ref,
    check_currency,
    check_positive,
    processor_party,
)
from payments.errors import IllegalTransition, InsufficientFunds
from payments.royalty import Leg


class PayoutState(enum.Enum):
    NONE = "none"
    REQUESTED = "requested"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    RETURNED = "returned"


S = PayoutState
K = AccountKind

# (from, to) -> (debited kind, credited kind)
PAYOUT_TRANSITIONS: dict[tuple[PayoutState, PayoutState], tuple[AccountKind, AccountKind]] = {
    (S.NONE, S.REQUESTED): (K.EARNINGS, K.PAYOUT_PENDING),
    (S.REQUESTED, S.IN_TRANSIT): (K.PAYOUT_PENDING, K.IN_TRANSIT),
    (S.REQUESTED, S.FAILED): (K.PAYOUT_PENDING, K.EARNINGS),
    (S.IN_TRANSIT, S.PAID): (K.IN_TRANSIT, K.CLEARING),
    (S.IN_TRANSIT, S.FAILED): (K.IN_TRANSIT, K.EARNINGS),
    (S.PAID, S.RETURNED): (K.CLEARING, K.EARNINGS),
}


@dataclass(frozen=True)
class PayoutRequest:
    payout_id: str
    party: str
    amount: int
    currency: str
    step: PayoutState
    processor: str = "sandbox"

    def __post_init__(self) -> None:
        check_positive(self.amount)
        check_currency(self.currency)
        if self.step is PayoutState.NONE:
            raise IllegalTransition("a payout step cannot be 'none'")

    def canonical(self) -> list[object]:
        return [self.payout_id, self.party, self.amount, self.currency, self.step.value, self.processor]

    def account(self, kind: AccountKind) -> AccountRef:
        party = processor_party(self.processor) if kind is K.CLEARING else self.party
        return account_ref(party, kind, self.currency)

    def accounts(self) -> list[AccountRef]:
        kinds = (K.EARNINGS, K.PAYOUT_PENDING, K.IN_TRANSIT, K.CLEARING)
        return [self.account(k) for k in kinds]


def plan_payout(state: PayoutState, req: PayoutRequest, available: int) -> list[Leg]:
    """Legs of ``req.step`` from ``state``; ``available`` is the party's earnings balance."""
    try:
        debit, credit = PAYOUT_TRANSITIONS[(state, req.step)]
    except KeyError:
        raise IllegalTransition(f"payout cannot go {req.step.value} from {state.value}") from None
    if req.step is S.REQUESTED and req.amount > available:
        raise InsufficientFunds(f"{req.party} has {available} available, payout asks {req.amount}")
    return [Leg(req.account(debit), -req.amount), Leg(req.account(credit), req.amount)]
