"""Webhook events about money going out, applied exactly once.

- ``account.updated`` -> the payout account's state (newest event wins);
- ``transfer.reversed`` (all of it) -> a paid payout is ``returned``, one still in transit
  ``failed``: either way the money is back in the party's earnings; a payout that settlement
  itself reversed in part (``payments.transfer_reversals``, a refund after settlement) is
  booked there, and the event adds nothing;
- ``payout.failed`` on a connected account -> the paid payout of that account with the same
  amount (the newest) is ``returned``.

The event id goes into ``payment_events`` in the same database transaction as the ledger
steps, so a redelivery writes nothing. A partial reversal, or a failed bank payout that
matches none of ours, is acknowledged and reported (``Outcome.note``) without posting.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from payments import tables as t
from payments.events import AccountUpdated, PayoutFailed, TransferReversed, WebhookEvent
from payments.payouts import PayoutState
from payments.settlement import PayoutRow, Settlement, payout_row

MONEY_OUT = (AccountUpdated, TransferReversed, PayoutFailed)


@dataclass(frozen=True)
class Outcome:
    applied: bool
    note: str = ""


class PayoutEvents:
    def __init__(self, settlement: Settlement) -> None:
        self.settlement = settlement

    async def apply(self, event: WebhookEvent) -> Outcome:
        p = event.payload
        if isinstance(p, AccountUpdated):
            changed = await self.settlement.accounts.updated(p, event.created)
            return Outcome(changed, "" if changed else "not our account, or an older state")
        if isinstance(p, TransferReversed):
            return await self._reversed(event, p)
        if isinstance(p, PayoutFailed):
            return await self._payout_failed(event, p)
        return Outcome(False, f"not a money-out event: {event.type}")

    async def _find(self, where: sa.ColumnElement[bool]) -> PayoutRow | None:
        q = sa.select(t.payouts).where(where).order_by(t.payouts.c.created_at.desc()).limit(1)
        async with self.settlement.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return payout_row(row) if row else None

    async def _reversed(self, event: WebhookEvent, p: TransferReversed) -> Outcome:
        c = t.payouts.c
        cond = c.transfer_id == p.transfer
        row = await self._find(sa.or_(cond, c.id == p.nal_payout) if p.nal_payout else cond)
        if row is None:
            return Outcome(False, f"no payout with transfer {p.transfer}")
        if await self._ours(row.id):
            await self._seen(event)
            return Outcome(False, f"reversals of payout {row.id} are booked by settlement")
        if p.amount_reversed < row.amount:
            return Outcome(False, f"partial reversal ({p.amount_reversed} of {row.amount}) not posted")
        return await self._back(event, row)

    async def _ours(self, payout_id: str) -> bool:
        """True when settlement reversed part of this payout itself (a refund after
        settlement): it books those reversals, so the event adds nothing."""
        r = t.payout_reversals.c
        async with self.settlement.engine.connect() as conn:
            return (await conn.scalar(sa.select(sa.func.count()).where(r.payout_id == payout_id))) != 0

    async def _payout_failed(self, event: WebhookEvent, p: PayoutFailed) -> Outcome:
        c = t.payouts.c
        row = await self._find(sa.and_(c.account_id == p.account, c.amount == p.amount,
                                       c.state == PayoutState.PAID.value))
        if row is None:
            return Outcome(False, f"no paid payout of {p.amount} to {p.account}")
        return await self._back(event, row)

    async def _back(self, event: WebhookEvent, row: PayoutRow) -> Outcome:
        if row.state == PayoutState.PAID.value:
            step = PayoutState.RETURNED
        elif row.state == PayoutState.IN_TRANSIT.value:
            step = PayoutState.FAILED
        else:
            await self._seen(event)
            return Outcome(False, f"payout {row.id} is {row.state}")
        fresh = [True]

        async def first_time(conn: AsyncConnection) -> bool:
            fresh[0] = await _first_time(conn, event, self.settlement.is_pg, self.settlement.clock())
            return fresh[0]

        await self.settlement.steps(row, [step], None, f"{event.type} {event.id}", before=first_time)
        return Outcome(fresh[0], "" if fresh[0] else "duplicate")

    async def _seen(self, event: WebhookEvent) -> None:
        async with self.settlement.engine.begin() as conn:
            await _first_time(conn, event, self.settlement.is_pg, self.settlement.clock())


async def _first_time(conn: AsyncConnection, event: WebhookEvent, is_pg: bool, now: float) -> bool:
    values = {"event_id": event.id, "type": event.type, "received_at": now, "payment_id": None}
    ins = (postgresql.insert if is_pg else sqlite.insert)(t.payment_events)
    stmt = ins.values(**values).on_conflict_do_nothing().returning(t.payment_events.c.event_id)
    return (await conn.execute(stmt)).first() is not None
