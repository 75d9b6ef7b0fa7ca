"""Refunds after settlement: take the payees' parts back from their transfers.

A refund's ledger transaction already takes the money back from every share in proportion
(``payments.reversals``); a payee whose share of the show was paid out is left with
negative earnings. This job reverses that part of their transfer, so the money comes back
from their connected account instead of waiting for later earnings. Two phases, safe on
every node at once and after a crash at any point, like settlement:

1. **plan**: for each refund made after a paid payout of the same show (transfer group
   ``show:{id}``), what it took from the payee's earnings is spread over the payee's paid
   payouts of that show, oldest first, each up to what is left of it; one
   ``payout_reversals`` row per (refund, payout), unique, written as ``requested``;
2. **send**: each requested row is claimed, sent (``/v1/transfers/{id}/reversals``) with the
   idempotency key ``reversal:{id}``, and then, in one database transaction, marked
   ``done``, added to the payout's ``reversed`` and booked (``payout_reversal``: clearing ->
   earnings, ledger key ``reversal:{id}``). A provider that refuses for good (the account
   cannot cover it) fails the row: the negative balance stays and later earnings make it
   good first (``payments.settle_plan``). Other errors leave it requested for the next run.

Refunds of money that belonged to no show (the day's settlement group) are not reversed:
their negative balance is recouped from later earnings.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from payments import tables as t
from payments.accounts import AccountKind
from payments.errors import ProviderError, TransferRefused
from payments.payouts import PayoutRequest, PayoutState
from payments.providers.rails import ReversalRequest
from payments.settle_plan import SHOW_GROUP
from payments.settlement import PayoutRow, Settlement, payout_row
from payments.store import Op

REQUESTED, DONE, FAILED = "requested", "done", "failed"
WINDOW_S = 180 * 86_400.0
"""Payouts older than this are not looked at again (card refunds and disputes end well before)."""


@dataclass(frozen=True)
class ReversalRow:
    id: str
    payout_id: str
    refund_key: str
    amount: int
    reversal_id: str | None
    state: str
    error: str


@dataclass
class ReversalReport:
    done: list[ReversalRow] = field(default_factory=list)
    failed: list[ReversalRow] = field(default_factory=list)
    pending: list[ReversalRow] = field(default_factory=list)


def _rrow(row: sa.Row[tuple[object, ...]]) -> ReversalRow:
    m = row._mapping
    return ReversalRow(**{f: m[f] for f in ReversalRow.__dataclass_fields__})


async def _refunds_after(conn: AsyncConnection, since: float) -> list[tuple[str, str | None]]:
    """(refund key, show) of every refund booked after ``since``."""
    tx = t.transactions
    q = (sa.select(tx.c.idem_key, tx.c.ref).where(tx.c.kind == "refund", tx.c.created_at > since)
         .order_by(tx.c.id))
    rows = (await conn.execute(q)).all()
    refs = sorted({r.ref for r in rows if r.ref})
    shows: dict[str, object] = {}
    if refs:
        oq = sa.select(tx.c.idem_key, tx.c.meta).where(tx.c.idem_key.in_(refs))
        shows = {k: json.loads(m).get("show") for k, m in await conn.execute(oq)}
    out = []
    for key, ref in rows:
        show = shows.get(ref or "")
        out.append((key, show if isinstance(show, str) else None))
    return out


async def _taken_by(conn: AsyncConnection, refund_key: str, party: str, currency: str) -> int:
    """What the refund took from the party's earnings (a positive number, or 0)."""
    p, a, tx = t.postings, t.accounts, t.transactions
    q = (sa.select(sa.func.coalesce(sa.func.sum(p.c.amount), 0))
         .join(a, a.c.id == p.c.account_id).join(tx, tx.c.id == p.c.transaction_id)
         .where(tx.c.idem_key == refund_key, a.c.party == party, a.c.currency == currency,
                a.c.kind == AccountKind.EARNINGS.value))
    return max(0, -int((await conn.execute(q)).scalar_one()))


class TransferReversals:
    def __init__(self, settlement: Settlement) -> None:
        self.settlement = settlement

    async def run(self) -> ReversalReport:
        await self.plan()
        report = ReversalReport()
        for row in await self.rows(states=[REQUESTED]):
            done = await self.send(row)
            if done is not None:
                (report.done if done.state == DONE else report.failed).append(done)
        report.pending = await self.rows(states=[REQUESTED])
        return report

    async def rows(self, states: list[str] | None = None, payout_id: str | None = None) -> list[ReversalRow]:
        q = sa.select(t.payout_reversals).order_by(t.payout_reversals.c.created_at, t.payout_reversals.c.id)
        if states:
            q = q.where(t.payout_reversals.c.state.in_(states))
        if payout_id:
            q = q.where(t.payout_reversals.c.payout_id == payout_id)
        async with self.settlement.engine.connect() as conn:
            return [_rrow(r) for r in await conn.execute(q)]

    # --- phase 1 -------------------------------------------------------------------------

    async def _paid(self, conn: AsyncConnection) -> list[PayoutRow]:
        c = t.payouts.c
        q = (sa.select(t.payouts).where(c.state == PayoutState.PAID.value, c.transfer_id.is_not(None),
                                        c.transfer_group.like(SHOW_GROUP + "%"), c.reversed < c.amount,
                                        c.created_at > self.settlement.clock() - WINDOW_S)
             .order_by(c.created_at, c.id))
        return [payout_row(r) for r in await conn.execute(q)]

    async def plan(self) -> int:
        """Write the reversal rows every refund after settlement calls for; how many are new."""
        s = self.settlement
        new = 0
        async with s.engine.begin() as conn:
            paid = await self._paid(conn)
            if not paid:
                return 0
            c = t.payouts.c
            if s.is_pg:  # one planner at a time: the rows' allocation reads what others wrote
                await conn.execute(sa.select(c.id).where(c.id.in_([p.id for p in paid])).with_for_update())
            for refund_key, show in await _refunds_after(conn, min(p.created_at for p in paid)):
                if show is None:
                    continue
                mine = [p for p in paid if p.transfer_group == SHOW_GROUP + show]
                for party in sorted({p.party for p in mine}):
                    new += await self._spread(conn, refund_key, [p for p in mine if p.party == party])
        return new

    async def _spread(self, conn: AsyncConnection, refund_key: str, payouts: list[PayoutRow]) -> int:
        r = t.payout_reversals.c
        refund_at = await conn.scalar(sa.select(t.transactions.c.created_at)
                                      .where(t.transactions.c.idem_key == refund_key))
        payouts = [p for p in payouts if p.created_at < float(refund_at or 0)]
        if not payouts:
            return 0
        owed = await _taken_by(conn, refund_key, payouts[0].party, payouts[0].currency)
        known = {pid: amt for pid, amt in await conn.execute(
            sa.select(r.payout_id, r.amount).where(r.refund_key == refund_key,
                                                   r.payout_id.in_([p.id for p in payouts])))}
        owed -= sum(known.values())
        new = 0
        for p in payouts:
            if owed <= 0:
                break
            if p.id in known:
                continue
            pending = int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(r.amount), 0))
                                            .where(r.payout_id == p.id, r.state == REQUESTED)) or 0)
            amount = min(owed, p.amount - p.reversed - pending)
            if amount <= 0:
                continue
            now = self.settlement.clock()
            await conn.execute(t.payout_reversals.insert().values(
                id="rv_" + secrets.token_hex(12), payout_id=p.id, refund_key=refund_key, amount=amount,
                reversal_id=None, state=REQUESTED, error="", claimed_until=0.0, created_at=now, updated_at=now))
            owed -= amount
            new += 1
        return new

    # --- phase 2 -------------------------------------------------------------------------

    async def _claim(self, row_id: str) -> bool:
        s = self.settlement
        now = s.clock()
        r = t.payout_reversals
        q = (r.update().where(r.c.id == row_id, r.c.state == REQUESTED, r.c.claimed_until <= now)
             .values(claimed_until=now + s.claim_s, updated_at=now))
        async with s.engine.begin() as conn:
            return (await conn.execute(q)).rowcount == 1

    async def _payout(self, payout_id: str) -> PayoutRow:
        async with self.settlement.engine.connect() as conn:
            return payout_row((await conn.execute(sa.select(t.payouts).where(t.payouts.c.id == payout_id))).one())

    async def send(self, row: ReversalRow) -> ReversalRow | None:
        """Phase 2 for one row; its new state, or None when another node holds it or it must wait."""
        payout = await self._payout(row.payout_id)
        if payout.provider != self.settlement.rail.name or not await self._claim(row.id):
            return None
        assert payout.transfer_id is not None
        try:
            reversal_id = await self.settlement.rail.reverse(ReversalRequest(row.id, payout.transfer_id, row.amount))
        except TransferRefused as exc:
            return await self._finish(row, payout, None, str(exc))
        except ProviderError as exc:
            await self._update(row.id, error=str(exc)[:1000], claimed_until=0.0)
            return None
        return await self._finish(row, payout, reversal_id, "")

    async def _update(self, row_id: str, **values: object) -> None:
        async with self.settlement.engine.begin() as conn:
            await conn.execute(t.payout_reversals.update().where(t.payout_reversals.c.id == row_id)
                               .values(updated_at=self.settlement.clock(), **values))

    async def _finish(self, row: ReversalRow, payout: PayoutRow, reversal_id: str | None, error: str) -> ReversalRow:
        s = self.settlement
        state = DONE if reversal_id else FAILED

        async def decide(conn: AsyncConnection) -> list[list[Op]]:
            r = t.payout_reversals
            moved = await conn.execute(r.update().where(r.c.id == row.id, r.c.state == REQUESTED).values(
                state=state, reversal_id=reversal_id, error=error[:1000], claimed_until=0.0, updated_at=s.clock()))
            if moved.rowcount != 1 or reversal_id is None:
                return []
            await conn.execute(t.payouts.update().where(t.payouts.c.id == payout.id)
                               .values(reversed=t.payouts.c.reversed + row.amount, updated_at=s.clock()))
            step = PayoutRequest(payout.id, payout.party, row.amount, payout.currency, PayoutState.RETURNED,
                                 processor=payout.provider)
            return [[s.ledger.reversal_op(f"reversal:{row.id}", step)]]

        await s.ledger.unit(decide)
        return ReversalRow(row.id, row.payout_id, row.refund_key, row.amount, reversal_id, state, error)
