"""The ledger on SQLite and on real PostgreSQL: every flow, idempotency, invariants."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from payments import reports
from payments import tables as t
from payments.accounts import AccountKind
from payments.errors import (
    IdempotencyConflict,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
)
from payments.ledger import Ledger
from payments.payouts import PayoutRequest, PayoutState
from payments.reversals import DisputeRequest, DisputeStep, Refund
from payments.royalty import Advance, Performance, PerformedSong
from payments.splits import Role, Share, SplitSheet
from tests.payments.conftest import DB
from tests.payments.helpers import ARTIST, BASSIST, DRUMMER, tip


async def balance_map(db: DB) -> dict[tuple[str, str], int]:
    return {(b.party, b.kind): b.balance for b in await reports.balances(db.engine)}


async def count(db: DB, table: sa.Table) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def assert_sound(db: DB) -> None:
    report = await reports.check(db.engine)
    assert report.ok, report.lines()


async def test_tip_posts_balanced_legs_and_replay_writes_nothing(db: DB) -> None:
    ledger = Ledger(db.engine)
    first = await ledger.record_tip("tip-1", tip(1_000, 59))
    assert sum(leg.amount for leg in first.postings) == 0
    again = await ledger.record_tip("tip-1", tip(1_000, 59))
    assert again == first and again.replayed and not first.replayed
    assert await count(db, t.transactions) == 1
    assert await count(db, t.postings) == len(first.postings)
    bal = await balance_map(db)
    assert bal[(ARTIST, "earnings")] == 505 and bal[("platform", "commission")] == 100
    await assert_sound(db)


async def test_same_key_other_content_is_refused_and_writes_nothing(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_tip("tip-1", tip(1_000))
    before = await balance_map(db)
    with pytest.raises(IdempotencyConflict):
        await ledger.record_tip("tip-1", tip(2_000))
    with pytest.raises(IdempotencyConflict):
        await ledger.record_sale("tip-1", tip(1_000))
    with pytest.raises(IdempotencyConflict):
        await ledger.record_tips([("tip-2", tip(500)), ("tip-1", tip(700))])
    assert await balance_map(db) == before
    assert await count(db, t.transactions) == 1


async def test_batch_mixes_new_keys_and_replays(db: DB) -> None:
    ledger = Ledger(db.engine)
    one = await ledger.record_tip("a", tip(500))
    got = await ledger.record_tips([("a", tip(500)), ("b", tip(700)), ("b", tip(700))])
    assert got[0] == one and got[0].replayed
    assert got[1] == got[2] and not got[1].replayed
    assert await count(db, t.transactions) == 2
    await assert_sound(db)


async def test_sale_and_full_refund_net_every_account_to_zero(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_advance("adv", Advance(ARTIST, 100, "EUR"))
    before = await balance_map(db)
    await ledger.record_sale("sale", tip(9_999, 321, show="s1"))
    await ledger.record_refund("r1", Refund("sale", 3_333))
    await ledger.record_refund("r2", Refund("sale", 6_666))
    after = await balance_map(db)
    assert {k: v for k, v in after.items() if v != before.get(k, 0)} == {}
    with pytest.raises(InsufficientFunds):
        await ledger.record_refund("r3", Refund("sale", 1))
    with pytest.raises(NotFound):
        await ledger.record_refund("r4", Refund("nope", 1))
    await assert_sound(db)


async def test_advance_is_recouped_from_the_artist_share_only(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_advance("adv", Advance(ARTIST, 700, "EUR"))
    await ledger.record_tip("t1", tip(1_000, 59))
    await ledger.record_tip("t2", tip(1_000, 59))
    bal = await balance_map(db)
    assert bal[(ARTIST, "recoupable")] == 0
    assert bal[(ARTIST, "earnings")] == 700 + 2 * 505 - 700
    assert bal[(BASSIST, "earnings")] == 420 and bal[(DRUMMER, "earnings")] == 252
    await assert_sound(db)


async def test_dispute_won_releases_and_lost_leaves_recoupable_debt(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_tip("t1", tip(1_000, 59))
    base = await balance_map(db)
    await ledger.record_dispute_step("d1-open", DisputeRequest("d1", "t1", DisputeStep.OPEN, 1_000))
    held = await balance_map(db)
    assert held[(ARTIST, "earnings")] == 0 and held[(ARTIST, "held")] == 505
    await ledger.record_dispute_step("d1-won", DisputeRequest("d1", "t1", DisputeStep.WON, 1_000))
    assert {k: v for k, v in (await balance_map(db)).items() if v != base.get(k, 0)} == {}
    with pytest.raises(IllegalTransition):
        await ledger.record_dispute_step("d1-lost", DisputeRequest("d1", "t1", DisputeStep.LOST, 1_000))

    await ledger.record_tip("t2", tip(1_000, 59))
    await ledger.record_payout_step("p1", PayoutRequest("p1", ARTIST, 1_010, "EUR", PayoutState.REQUESTED))
    await ledger.record_dispute_step("d2-open", DisputeRequest("d2", "t2", DisputeStep.OPEN, 1_000))
    await ledger.record_dispute_step("d2-lost", DisputeRequest("d2", "t2", DisputeStep.LOST, 1_000))
    bal = await balance_map(db)
    assert bal[(ARTIST, "earnings")] == 0
    assert bal[(ARTIST, "recoupable")] == -505
    assert bal[(ARTIST, "held")] == 0
    assert bal[("processor:sandbox", "clearing")] == -1_000
    await ledger.record_tip("t3", tip(1_000, 59))
    assert (await balance_map(db))[(ARTIST, "recoupable")] == 0
    await assert_sound(db)


async def test_payout_lifecycle(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_tip("t1", tip(10_000, 0))
    earned = (await balance_map(db))[(ARTIST, "earnings")]

    def step(pid: str, state: PayoutState, amount: int = 1_000) -> PayoutRequest:
        return PayoutRequest(pid, ARTIST, amount, "EUR", state)

    with pytest.raises(InsufficientFunds):
        await ledger.record_payout_step("big", step("big", PayoutState.REQUESTED, earned + 1))
    await ledger.record_payout_step("p1-r", step("p1", PayoutState.REQUESTED))
    with pytest.raises(IllegalTransition):
        await ledger.record_payout_step("p1-paid-early", step("p1", PayoutState.PAID))
    await ledger.record_payout_step("p1-t", step("p1", PayoutState.IN_TRANSIT))
    assert (await balance_map(db))[(ARTIST, "in_transit")] == 1_000
    await ledger.record_payout_step("p1-p", step("p1", PayoutState.PAID))
    await ledger.record_payout_step("p1-ret", step("p1", PayoutState.RETURNED))
    await ledger.record_payout_step("p2-r", step("p2", PayoutState.REQUESTED))
    await ledger.record_payout_step("p2-t", step("p2", PayoutState.IN_TRANSIT))
    await ledger.record_payout_step("p2-f", step("p2", PayoutState.FAILED))
    bal = await balance_map(db)
    assert bal[(ARTIST, "earnings")] == earned
    assert bal[(ARTIST, "payout_pending")] == 0 and bal[(ARTIST, "in_transit")] == 0
    replay = await ledger.record_payout_step("p1-t", step("p1", PayoutState.IN_TRANSIT))
    assert replay.replayed
    await assert_sound(db)


async def test_performance_royalty_and_setlist(db: DB) -> None:
    ledger = Ledger(db.engine)
    await ledger.record_sale("ticket-1", tip(10_000, 0, show="s1"))
    pool = (await balance_map(db))[("show:s1", "royalty_pool")]
    assert pool == 900
    song = SplitSheet((
        Share("user:9", 7_500, Role.SONGWRITER, "Ann Writer", "00012345678", "GEMA"),
        Share("pub:1", 2_500, Role.PUBLISHER, "Tiny Pub", "00087654321", "GEMA"),
    ))
    perf = Performance("s1", "jazz", "EUR", (
        PerformedSong("Blue Line", song, "T-123.456.789-0", 1_700_000_000.0, 240),
        PerformedSong("Other", SplitSheet((Share(ARTIST, 10_000, Role.SONGWRITER, "Art"),)), "", 1_700_000_300.0, 120),
    ))
    await ledger.record_performance("perf-s1", perf)
    bal = await balance_map(db)
    assert bal[("show:s1", "royalty_pool")] == 0
    assert bal[("user:9", "earnings")] == 450 and bal[("pub:1", "earnings")] == 150
    csv_text = await reports.setlist_csv(db.engine, "s1")
    lines = csv_text.splitlines()
    assert lines[0].startswith("show,song_title,writers,publishers,iswc")
    assert "Blue Line" in lines[1] and "Ann Writer (IPI 00012345678, GEMA, 75.00%)" in lines[1]
    assert "online: jazz" in lines[1] and "2023-11-14T22:13:20Z" in lines[1] and lines[1].endswith(",240")
    await assert_sound(db)


async def test_statement_json_and_csv(db: DB) -> None:
    now = [1_700_000_000.0]
    ledger = Ledger(db.engine, clock=lambda: now[0])
    await ledger.record_tip("t1", tip(1_000, 59))
    now[0] += 86_400
    await ledger.record_tip("t2", tip(2_000, 59))
    now[0] += 86_400
    await ledger.record_tip("t3", tip(3_000, 59))
    st = await reports.statement(db.engine, ARTIST, 1_700_000_000.0 + 86_400, 1_700_000_000.0 + 2 * 86_400)
    earnings = next(a for a in st.accounts if a.account == AccountKind.EARNINGS.value)
    assert earnings.opening == 505
    assert [m.key for m in st.movements] == ["t2"]
    assert earnings.closing == 505 + st.movements[0].amount
    assert '"opening": 505' in st.to_json()
    rows = st.to_csv().splitlines()
    assert rows[0].startswith("row,time,transaction_id")
    assert any(r.startswith("movement,") and ",t2,tip," in r for r in rows)


async def test_check_finds_tampering(db: DB) -> None:
    ledger = Ledger(db.engine)
    receipt = await ledger.record_tip("t1", tip(1_000, 59))
    async with db.engine.begin() as conn:
        await conn.execute(t.accounts.update().where(t.accounts.c.party == ARTIST).values(balance=1))
        await conn.execute(
            t.postings.update()
            .where(t.postings.c.transaction_id == receipt.transaction_id, t.postings.c.line == 0)
            .values(amount=-999)
        )
    report = await reports.check(db.engine)
    assert not report.ok
    assert report.unbalanced_transactions == (receipt.transaction_id,)
    assert report.balance_mismatches
