"""Royalty rules as pure functions: legs balance, commission, pool, recoupment, reversals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.accounts import PLATFORM, AccountKind, AccountRef
from payments.errors import IllegalTransition, InsufficientFunds
from payments.payouts import PayoutRequest, PayoutState, plan_payout
from payments.reversals import DisputeState, DisputeStep, next_dispute_state, plan_refund
from payments.royalty import (
    Leg,
    Performance,
    PerformedSong,
    Revenue,
    RevenueKind,
    RoyaltyPolicy,
    plan_performance,
    plan_revenue,
)
from payments.splits import Role, Share, SplitSheet
from tests.payments.helpers import ARTIST, BASSIST, DRUMMER, tip


def amounts(legs: list[Leg]) -> dict[tuple[str, str], int]:
    return {(leg.account.party, leg.account.kind.value): leg.amount for leg in legs}


def test_tip_legs() -> None:
    legs = amounts(plan_revenue(RevenueKind.TIP, tip(1_000, 59), RoyaltyPolicy(), {}))
    assert legs == {
        ("processor:sandbox", "clearing"): -1_000,
        ("processor:sandbox", "fee"): 59,
        (PLATFORM, "commission"): 100,
        (ARTIST, "earnings"): 505,
        (BASSIST, "earnings"): 210,
        (DRUMMER, "earnings"): 126,
    }


def test_commission_is_configurable_and_pool_only_for_tickets_in_a_show() -> None:
    policy = RoyaltyPolicy(ticket_commission_bps=2_000, performance_bps=1_000)
    legs = amounts(plan_revenue(RevenueKind.TICKET, tip(10_000, 0, show="s1"), policy, {}))
    assert legs[(PLATFORM, "commission")] == 2_000
    assert legs[("show:s1", "royalty_pool")] == 800
    tip_legs = amounts(plan_revenue(RevenueKind.TIP, tip(10_000, 0, show="s1"), policy, {}))
    assert ("show:s1", "royalty_pool") not in tip_legs


def test_fee_larger_than_commission_room_never_makes_negative_shares() -> None:
    legs = plan_revenue(RevenueKind.TIP, tip(10, 10), RoyaltyPolicy(), {})
    assert all(leg.amount >= 0 for leg in legs if leg.account.kind is not AccountKind.CLEARING)


def test_recoupment_takes_from_artist_share_only() -> None:
    legs = amounts(plan_revenue(RevenueKind.TIP, tip(1_000, 59), RoyaltyPolicy(), {ARTIST: 300}))
    assert legs[(ARTIST, "earnings")] == 205
    assert legs[(ARTIST, "recoupable")] == 300
    assert legs[(BASSIST, "earnings")] == 210


revenues = st.builds(
    lambda gross, fee_bps, show: tip(gross, gross * fee_bps // 10_000, show=show),
    st.integers(1, 10**9),
    st.integers(0, 10_000),
    st.sampled_from([None, "s1"]),
)


@given(revenues, st.sampled_from(list(RevenueKind)), st.integers(0, 10**9))
def test_revenue_legs_balance_and_recoup_only_artist(rev: Revenue, kind: RevenueKind, artist_debt: int) -> None:
    plain = amounts(plan_revenue(kind, rev, RoyaltyPolicy(), {}))
    legs = plan_revenue(kind, rev, RoyaltyPolicy(), {ARTIST: artist_debt})
    assert sum(leg.amount for leg in legs) == 0
    owed = amounts(legs)
    for key, value in plain.items():
        if key[0] != ARTIST:
            assert owed.get(key, 0) == value
    recouped = owed.get((ARTIST, "recoupable"), 0)
    assert recouped == min(artist_debt, plain.get((ARTIST, "earnings"), 0))
    assert owed.get((ARTIST, "earnings"), 0) + recouped == plain.get((ARTIST, "earnings"), 0)


@given(revenues, st.lists(st.integers(1, 10**9), min_size=1, max_size=5))
def test_refunds_in_pieces_net_every_account_to_zero(rev: Revenue, pieces: list[int]) -> None:
    legs = plan_revenue(RevenueKind.TICKET, rev, RoyaltyPolicy(), {ARTIST: 50})
    remaining = list(legs)
    left = rev.gross
    for piece in pieces:
        amount = min(piece, left)
        if amount == 0:
            break
        refund = plan_refund(remaining, amount)
        assert sum(leg.amount for leg in refund) == 0
        totals = {leg.account: leg.amount for leg in remaining}
        for leg in refund:
            totals[leg.account] += leg.amount
        remaining = [Leg(a, v) for a, v in totals.items()]
        left -= amount
    if left:
        refund = plan_refund(remaining, left)
        totals = {leg.account: leg.amount for leg in remaining}
        for leg in refund:
            totals[leg.account] += leg.amount
        remaining = [Leg(a, v) for a, v in totals.items()]
    assert all(leg.amount == 0 for leg in remaining)
    with pytest.raises(InsufficientFunds):
        plan_refund(remaining, 1)


def test_performance_divides_pool_by_duration_then_by_song_sheet() -> None:
    song_sheet = SplitSheet((
        Share("user:9", 5_000, Role.SONGWRITER, "Ann", "00012345678", "GEMA"),
        Share("pub:1", 5_000, Role.PUBLISHER, "Pub", "00087654321", "GEMA"),
    ))
    other = SplitSheet((Share("user:8", 10_000, Role.SONGWRITER, "Bo"),))
    perf = Performance("s1", "jazz", "EUR", (
        PerformedSong("One", song_sheet, duration_s=200),
        PerformedSong("Two", other, duration_s=100),
    ))
    legs = amounts(plan_performance(perf, 301))
    assert legs == {("show:s1", "royalty_pool"): -301, ("user:9", "earnings"): 101,
                    ("pub:1", "earnings"): 100, ("user:8", "earnings"): 100}
    assert plan_performance(perf, 0) == []


def test_state_machines_refuse_illegal_steps() -> None:
    assert next_dispute_state(DisputeState.NONE, DisputeStep.OPEN) is DisputeState.OPEN
    with pytest.raises(IllegalTransition):
        next_dispute_state(DisputeState.WON, DisputeStep.LOST)
    req = PayoutRequest("p1", ARTIST, 100, "EUR", PayoutState.PAID)
    with pytest.raises(IllegalTransition):
        plan_payout(PayoutState.REQUESTED, req, 1_000)
    asked = PayoutRequest("p1", ARTIST, 100, "EUR", PayoutState.REQUESTED)
    with pytest.raises(InsufficientFunds):
        plan_payout(PayoutState.NONE, asked, 99)
    legs = plan_payout(PayoutState.NONE, asked, 100)
    assert [(leg.account.kind, leg.amount) for leg in legs] == [
        (AccountKind.EARNINGS, -100), (AccountKind.PAYOUT_PENDING, 100)]
    assert AccountRef(ARTIST, AccountKind.HELD, "EUR").flags == 1
