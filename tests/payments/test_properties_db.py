"""Hypothesis against the real databases: random sequences of writes, replayed.

One database per test (fixture); each example uses its own parties and keys, so examples never
see each other's money. Examples are few: each one is a handful of real transactions.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments import reports
from payments.errors import InsufficientFunds
from payments.ledger import Ledger
from payments.reversals import Refund
from payments.royalty import Advance, Revenue, RevenueKind
from payments.splits import Role, Share, SplitSheet
from tests.payments.conftest import DB

DB_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ops = st.lists(
    st.tuples(
        st.sampled_from(["tip", "sale", "boost", "refund", "advance"]),
        st.integers(0, 5),  # key number: small, so keys repeat
        st.integers(1, 50_000),  # amount
    ),
    min_size=1,
    max_size=12,
)


def sheet(tag: str) -> SplitSheet:
    return SplitSheet((
        Share(f"{tag}:artist", 5_000, Role.ARTIST),
        Share(f"{tag}:bass", 3_000, Role.BAND),
        Share(f"{tag}:writer", 2_000, Role.SONGWRITER),
    ))


async def apply(ledger: Ledger, tag: str, op: tuple[str, int, int]) -> bool:
    """Record ``op``; whether it was accepted (a refused key was never used)."""
    kind, n, amount = op
    key = f"{tag}:{kind}:{n}"
    rev = Revenue(amount, "EUR", sheet(tag), fee=amount // 30, room=tag, show=tag)
    try:
        if kind == "refund":
            await ledger.record_refund(key, Refund(f"{tag}:sale:{n}", max(1, amount // 3)))
        elif kind == "advance":
            await ledger.record_advance(key, Advance(f"{tag}:artist", amount, "EUR"))
        else:
            revenue_kind = {"tip": RevenueKind.TIP, "sale": RevenueKind.TICKET, "boost": RevenueKind.BOOST}[kind]
            await ledger.record_revenue_many(revenue_kind, [(key, rev)])
    except Exception as exc:  # the same key with other content, refund of nothing, too much refund
        assert type(exc).__name__ in {"IdempotencyConflict", "NotFound", "InsufficientFunds"}, exc
        return False
    return True


async def party_balances(db: DB, tag: str) -> dict[tuple[str, str], int]:
    return {(b.party, b.kind): b.balance for b in await reports.balances(db.engine) if b.party.startswith(tag)}


@DB_SETTINGS
@given(sequence=ops)
async def test_replaying_any_sequence_changes_nothing(db: DB, sequence: list[tuple[str, int, int]]) -> None:
    ledger = Ledger(db.engine)
    tag = uuid.uuid4().hex[:10]
    accepted = [op for op in sequence if await apply(ledger, tag, op)]
    before = await reports.balances(db.engine)
    for op in accepted + accepted[::-1]:
        assert await apply(ledger, tag, op)
    assert await reports.balances(db.engine) == before
    report = await reports.check(db.engine)
    assert report.ok, report.lines()


@DB_SETTINGS
@given(
    gross=st.integers(1, 10**9),
    fee_bps=st.integers(0, 10_000),
    debt=st.integers(0, 10**6),
    pieces=st.lists(st.integers(1, 10**9), max_size=3),
)
async def test_sale_plus_full_refund_nets_every_account_to_zero(
    db: DB, gross: int, fee_bps: int, debt: int, pieces: list[int]
) -> None:
    ledger = Ledger(db.engine)
    tag = uuid.uuid4().hex[:10]
    if debt:
        await ledger.record_advance(f"{tag}:adv", Advance(f"{tag}:artist", debt, "EUR"))
    before = await party_balances(db, tag)
    rev = Revenue(gross, "EUR", sheet(tag), fee=gross * fee_bps // 10_000, room=tag, show=tag)
    sale = await ledger.record_sale(f"{tag}:sale", rev)
    assert sum(leg.amount for leg in sale.postings) == 0
    left = gross
    for i, piece in enumerate(pieces):
        amount = min(piece, left - 1)
        if amount <= 0:
            break
        await ledger.record_refund(f"{tag}:r{i}", Refund(f"{tag}:sale", amount))
        left -= amount
    await ledger.record_refund(f"{tag}:last", Refund(f"{tag}:sale", left))
    after = await party_balances(db, tag)
    assert {k: v for k, v in after.items() if v != before.get(k, 0)} == {}
    try:
        await ledger.record_refund(f"{tag}:more", Refund(f"{tag}:sale", 1))
        raise AssertionError("refunded more than the sale")
    except InsufficientFunds:
        pass


@DB_SETTINGS
@given(advance=st.integers(1, 10**6), tips=st.lists(st.integers(1, 10**5), min_size=1, max_size=5))
async def test_recoupment_never_touches_a_non_artist_account(db: DB, advance: int, tips: list[int]) -> None:
    ledger = Ledger(db.engine)
    tag = uuid.uuid4().hex[:10]
    await ledger.record_advance(f"{tag}:adv", Advance(f"{tag}:artist", advance, "EUR"))
    expected_bass = 0
    for i, gross in enumerate(tips):
        receipt = await ledger.record_tip(f"{tag}:t{i}", Revenue(gross, "EUR", sheet(tag)))
        for leg in receipt.postings:
            if leg.account.kind.value == "recoupable":
                assert leg.account.party == f"{tag}:artist"
            if leg.account.party == f"{tag}:bass":
                expected_bass += leg.amount
        writer_share = sheet(tag).split(gross - gross // 10)[2]
        assert sum(leg.amount for leg in receipt.postings if leg.account.party == f"{tag}:writer") == writer_share
    bal = await party_balances(db, tag)
    assert bal[(f"{tag}:bass", "earnings")] == expected_bass
    assert bal.get((f"{tag}:bass", "recoupable"), 0) == 0
    assert (f"{tag}:writer", "recoupable") not in bal
