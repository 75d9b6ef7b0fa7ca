"""Settlement: move each party's available earnings to their payout account.

A run has two phases, each safe on every node at once and after a crash at any point:

1. **request**: for each party (``user:*``) and currency, in one database transaction that
   holds the party's earnings account locked, the amount past the hold period is computed
   (earnings balance minus what was credited within ``hold_s``), a ``payouts`` row is
   written and the ledger's ``requested`` step moves it to ``payout_pending``. Two nodes
   cannot request the same money: the second sees the balance the first left.
2. **send**: each ``requested`` payout is claimed for ``claim_s`` (an UPDATE that only one
   node wins), sent with the idempotency key ``payout:{id}`` (a retry after a crash gets
   the same transfer back from the provider), and the ``in_transit`` and ``paid`` steps are
   written with the transfer id in one database transaction. A crash between the transfer
   and that transaction leaves the payout ``requested``; the next run sends it again, gets
   the same transfer, and writes the steps once (ledger keys ``payout:{id}:{step}``).

A provider that refuses a transfer for good (``TransferRefused``) fails the payout: the
``failed`` step puts the money back into earnings. Any other provider error leaves the
payout ``requested`` with the error text, for the next run.

A party without a ready payout account keeps accruing; ``standings`` says why.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as t
from payments.accounts import AccountKind
from payments.errors import ProviderError, TransferRefused
from payments.ledger import Ledger
from payments.payout_accounts import PayoutAccount, PayoutAccounts, not_ready_reason
from payments.payouts import PayoutRequest, PayoutState
from payments.providers.rails import PayoutRail, TransferRequest
from payments.store import Op

USER_PREFIX = "user:"


@dataclass(frozen=True)
class Standing:
    """What a party's earnings allow now, in one currency."""

    party: str
    currency: str
    earnings: int
    in_hold: int
    available: int
    reason: str = ""
    """Why ``available`` does not go out now ('' when it does)."""


@dataclass(frozen=True)
class PayoutRow:
    id: str
    party: str
    amount: int
    currency: str
    provider: str
    account_id: str
    transfer_group: str
    transfer_id: str | None
    state: str
    error: str
    created_at: float


@dataclass
class RunReport:
    standings: list[Standing] = field(default_factory=list)
    requested: list[PayoutRow] = field(default_factory=list)
    sent: list[PayoutRow] = field(default_factory=list)
    failed: list[PayoutRow] = field(default_factory=list)
    pending: list[PayoutRow] = field(default_factory=list)


def new_payout_id() -> str:
    return "po_" + secrets.token_hex(12)


def payout_row(row: sa.Row[tuple[object, ...]]) -> PayoutRow:
    m = row._mapping
    return PayoutRow(**{f: m[f] for f in PayoutRow.__dataclass_fields__})


async def _held(conn: AsyncConnection, account_id: int, since: float) -> int:
    """What the account was credited since ``since`` (still in the hold period)."""
    p, tx = t.postings, t.transactions
    q = (sa.select(sa.func.coalesce(sa.func.sum(p.c.amount), 0))
         .join(tx, tx.c.id == p.c.transaction_id)
         .where(p.c.account_id == account_id, p.c.amount > 0, tx.c.created_at > since,
                ~tx.c.kind.like("payout_%")))
    return int((await conn.execute(q)).scalar_one())


async def _earnings_rows(conn: AsyncConnection, party: str | None, lock: bool) -> list[tuple[int, str, str, int]]:
    a = t.accounts
    q = sa.select(a.c.id, a.c.party, a.c.currency, a.c.balance).where(a.c.kind == AccountKind.EARNINGS.value)
    q = q.where(a.c.party == party) if party else q.where(a.c.party.like(USER_PREFIX + "%"))
    if lock:
        q = q.with_for_update()
    return [(i, p, c, b) for i, p, c, b in await conn.execute(q.order_by(a.c.id))]


class Settlement:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, accounts: PayoutAccounts, rail: PayoutRail, *,
                 hold_s: float, claim_s: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.ledger, self.accounts, self.rail = engine, ledger, accounts, rail
        self.hold_s, self.claim_s, self.clock = hold_s, claim_s, clock
        self.is_pg = engine.dialect.name == "postgresql"

    # --- what each party could get --------------------------------------------------------

    async def standings(self, party: str | None = None) -> list[Standing]:
        known = await self.accounts.all()
        since = self.clock() - self.hold_s
        out: list[Standing] = []
        async with self.engine.connect() as conn:
            for account_id, who, cur, balance in await _earnings_rows(conn, party, lock=False):
                held = min(max(balance, 0), await _held(conn, account_id, since))
                available = max(0, balance - held)
                reason = not_ready_reason(known.get(who)) if available else ""
                if known.get(who) is not None and known[who].provider != self.rail.name:
                    reason = f"payout account is at {known[who].provider}, payouts run on {self.rail.name}"
                out.append(Standing(who, cur, balance, held, available, reason))
        return out

    async def payouts(self, party: str | None = None, states: Sequence[str] = ()) -> list[PayoutRow]:
        q = sa.select(t.payouts).order_by(t.payouts.c.created_at, t.payouts.c.id)
        if party:
            q = q.where(t.payouts.c.party == party)
        if states:
            q = q.where(t.payouts.c.state.in_(list(states)))
        async with self.engine.connect() as conn:
            return [payout_row(r) for r in await conn.execute(q)]

    # --- the run -------------------------------------------------------------------------

    async def run(self, dry_run: bool = False,
                  after_transfer: Callable[[PayoutRow], Awaitable[None]] | None = None) -> RunReport:
        report = RunReport(standings=await self.standings())
        if dry_run:
            report.pending = await self.payouts(states=[PayoutState.REQUESTED.value])
            return report
        known = await self.accounts.all()
        for s in report.standings:
            account = known.get(s.party)
            if s.available and not s.reason and account is not None:
                row = await self.request(s.party, s.currency, account)
                if row is not None:
                    report.requested.append(row)
        for row in await self.payouts(states=[PayoutState.REQUESTED.value]):
            done = await self.send(row, after_transfer)
            if done is not None:
                (report.sent if done.state == PayoutState.PAID.value else report.failed).append(done)
        report.pending = await self.payouts(states=[PayoutState.REQUESTED.value])
        return report

    async def request(self, party: str, currency: str, account: PayoutAccount) -> PayoutRow | None:
        """Phase 1 for one party and currency; the new payout, or None when nothing is available."""
        made: list[PayoutRow] = []

        async def decide(conn: AsyncConnection) -> list[Sequence[Op]]:
            made.clear()
            rows = [r for r in await _earnings_rows(conn, party, lock=self.is_pg) if r[2] == currency]
            if not rows:
                return []
            account_id, _p, _c, balance = rows[0]
            amount = balance - min(max(balance, 0), await _held(conn, account_id, self.clock() - self.hold_s))
            if amount <= 0:
                return []
            now = self.clock()
            row = PayoutRow(new_payout_id(), party, amount, currency, self.rail.name, account.account_id,
                            f"settlement:{time.strftime('%Y-%m-%d', time.gmtime(now))}", None,
                            PayoutState.REQUESTED.value, "", now)
            await conn.execute(t.payouts.insert().values(**row.__dict__, claimed_until=0.0, updated_at=now))
            made.append(row)
            return [[self.ledger.payout_op(self._step(row, PayoutState.REQUESTED))]]

        await self.ledger.unit(decide)
        return made[0] if made else None

    def _step(self, row: PayoutRow, step: PayoutState) -> PayoutRequest:
        return PayoutRequest(row.id, row.party, row.amount, row.currency, step, processor=row.provider)

    async def _claim(self, payout_id: str) -> bool:
        now = self.clock()
        c = t.payouts.c
        q = (t.payouts.update()
             .where(c.id == payout_id, c.state == PayoutState.REQUESTED.value, c.claimed_until <= now)
             .values(claimed_until=now + self.claim_s, updated_at=now))
        async with self.engine.begin() as conn:
            return (await conn.execute(q)).rowcount == 1

    async def send(self, row: PayoutRow,
                   after_transfer: Callable[[PayoutRow], Awaitable[None]] | None = None) -> PayoutRow | None:
        """Phase 2 for one payout; its new row, or None when another node holds it or it must wait."""
        if row.provider != self.rail.name or not await self._claim(row.id):
            return None
        request = TransferRequest(row.id, row.account_id, row.amount, row.currency, row.transfer_group)
        try:
            transfer_id = await self.rail.transfer(request)
        except TransferRefused as exc:
            return await self.steps(row, [PayoutState.FAILED], None, str(exc))
        except ProviderError as exc:
            await self._note(row.id, str(exc))
            return None
        if after_transfer is not None:
            await after_transfer(row)
        return await self.steps(row, [PayoutState.IN_TRANSIT, PayoutState.PAID], transfer_id, "")

    async def _note(self, payout_id: str, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.payouts.update().where(t.payouts.c.id == payout_id)
                               .values(error=error[:1000], claimed_until=0.0, updated_at=self.clock()))

    async def steps(self, row: PayoutRow, steps: Sequence[PayoutState], transfer_id: str | None, error: str,
                    before: Callable[[AsyncConnection], Awaitable[bool]] | None = None) -> PayoutRow:
        """Write ledger ``steps`` of a payout and its row's new state, in one database transaction.
        ``before(conn)`` may run first in it (record a webhook event id) and return False to skip."""
        values: dict[str, object] = {"state": steps[-1].value, "updated_at": self.clock(), "claimed_until": 0.0}
        if transfer_id:
            values["transfer_id"] = transfer_id
        if error:
            values["error"] = error[:1000]

        async def decide(conn: AsyncConnection) -> list[Sequence[Op]]:
            if before is not None and not await before(conn):
                return []
            await conn.execute(t.payouts.update().where(t.payouts.c.id == row.id).values(**values))
            return [[self.ledger.payout_op(self._step(row, s))] for s in steps]

        await self.ledger.unit(decide)
        return PayoutRow(**{**row.__dict__, **{k: v for k, v in values.items() if k in PayoutRow.__dataclass_fields__}})
