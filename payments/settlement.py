"""Settlement: move each party's available earnings to their payout account.

A run has two phases, each safe on every node at once and after a crash at any point:

1. **request**: for each party (``user:*``) and currency, in one database transaction that
   holds the party's earnings account locked, what is due is computed show by show
   (``payments.settle_plan``: a show's earnings once it ended plus ``hold_s``, in transfer
   group ``show:{id}``, with the show's charge as ``source_transaction`` where one covers
   it), a ``payouts`` row is written per show and the ledger's ``requested`` step moves
   each to ``payout_pending``. Two nodes cannot request the same money: the second sees the
   balance the first left.
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

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from payments.settle_plan import Plan, Posting, plan
from payments.store import Op

USER_PREFIX = "user:"
INVITE_PREFIX = "invite:"
"""A split-sheet line of someone who has not joined: it accrues, shown, until claimed."""


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
    source_transaction: str | None = None
    reversed: int = 0


@dataclass
class RunReport:
    standings: list[Standing] = field(default_factory=list)
    requested: list[PayoutRow] = field(default_factory=list)
    sent: list[PayoutRow] = field(default_factory=list)
    failed: list[PayoutRow] = field(default_factory=list)
    pending: list[PayoutRow] = field(default_factory=list)
    before: object = None
    """What ``Settlement.before_run`` returned (the transfer reversals' report)."""


def new_payout_id() -> str:
    return "po_" + secrets.token_hex(12)


def payout_row(row: sa.Row[tuple[object, ...]]) -> PayoutRow:
    m = row._mapping
    return PayoutRow(**{f: m[f] for f in PayoutRow.__dataclass_fields__})


REVENUE_KINDS = ("ticket", "tip", "boost")
LIVE_STATES = (PayoutState.REQUESTED.value, PayoutState.IN_TRANSIT.value, PayoutState.PAID.value)
ShowEnds = Callable[[Sequence[str]], Awaitable[Mapping[str, float | None]]]


async def no_shows(_shows: Sequence[str]) -> Mapping[str, float | None]:
    return {}


@dataclass(frozen=True)
class _Credit:
    posting: Posting
    payment: str | None
    """Our payment id when the posting is a sale, tip or boost (its ledger key names it)."""


async def _credits(conn: AsyncConnection, account_id: int) -> list[_Credit]:
    """The account's postings (payout steps aside), each with the show it belongs to."""
    p, tx = t.postings, t.transactions
    q = (sa.select(p.c.amount, tx.c.created_at, tx.c.kind, tx.c.idem_key, tx.c.ref, tx.c.meta)
         .join(tx, tx.c.id == p.c.transaction_id)
         .where(p.c.account_id == account_id, ~tx.c.kind.like("payout_%")).order_by(tx.c.id))
    rows = (await conn.execute(q)).all()
    refs = sorted({r.ref for r in rows if r.ref and r.kind not in REVENUE_KINDS and r.kind != "performance"})
    shows: dict[str, object] = {}
    if refs:
        oq = sa.select(tx.c.idem_key, tx.c.meta).where(tx.c.idem_key.in_(refs))
        shows = {k: json.loads(m).get("show") for k, m in await conn.execute(oq)}
    out = []
    for r in rows:
        own = r.kind in REVENUE_KINDS or r.kind == "performance"
        show = json.loads(r.meta).get("show") if own else shows.get(r.ref or "")
        payment = r.idem_key.split(":", 1)[1] if r.kind in REVENUE_KINDS and ":" in r.idem_key else None
        out.append(_Credit(Posting(int(r.amount), float(r.created_at), show if isinstance(show, str) else None),
                           payment))
    return out


async def _taken(conn: AsyncConnection, party: str, currency: str) -> dict[str, int]:
    """Per transfer group, what the party's live payouts took (less what was reversed since)."""
    c = t.payouts.c
    q = (sa.select(c.transfer_group, sa.func.sum(c.amount - c.reversed))
         .where(c.party == party, c.currency == currency, c.state.in_(LIVE_STATES)).group_by(c.transfer_group))
    return {g: int(v) for g, v in await conn.execute(q)}


async def _source(conn: AsyncConnection, credits: Sequence[_Credit], show: str | None, amount: int) -> str | None:
    """The show's charge a transfer of ``amount`` can draw on (Stripe's ``source_transaction``):
    of the paid payments of the show that credited the party, the one with the most left
    unrefunded, if that covers ``amount`` (a transfer may not exceed its source charge)."""
    ids = sorted({c.payment for c in credits if c.payment and c.posting.show == show and c.posting.amount > 0})
    if show is None or not ids:
        return None
    pc = t.payments.c
    q = (sa.select(pc.charge, pc.amount - pc.refunded)
         .where(pc.id.in_(ids), pc.charge.is_not(None), pc.status == "paid")
         .order_by((pc.amount - pc.refunded).desc(), pc.created_at, pc.id))
    for charge, left in await conn.execute(q):
        return str(charge) if int(left) >= amount else None
    return None


async def _earnings_rows(conn: AsyncConnection, party: str | None, lock: bool) -> list[tuple[int, str, str, int]]:
    a = t.accounts
    q = sa.select(a.c.id, a.c.party, a.c.currency, a.c.balance).where(a.c.kind == AccountKind.EARNINGS.value)
    q = q.where(a.c.party == party) if party else q.where(
        sa.or_(a.c.party.like(USER_PREFIX + "%"), a.c.party.like(INVITE_PREFIX + "%")))
    if lock:
        q = q.with_for_update()
    return [(i, p, c, b) for i, p, c, b in await conn.execute(q.order_by(a.c.id))]


class Settlement:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, accounts: PayoutAccounts, rail: PayoutRail, *,
                 hold_s: float, claim_s: float = 120.0, clock: Callable[[], float] = time.time,
                 show_ends: ShowEnds = no_shows) -> None:
        self.engine, self.ledger, self.accounts, self.rail = engine, ledger, accounts, rail
        self.hold_s, self.claim_s, self.clock = hold_s, claim_s, clock
        self.show_ends = show_ends
        self.is_pg = engine.dialect.name == "postgresql"
        self.before_run: Callable[[], Awaitable[object]] | None = None
        """Runs first in every run that moves money (``payments.transfer_reversals``: refunds
        after settlement are taken back before anything new goes out)."""

    async def _plan(self, conn: AsyncConnection, account_id: int, party: str, currency: str,
                    balance: int) -> tuple[Plan, list[_Credit]]:
        credits = await _credits(conn, account_id)
        shows = sorted({c.posting.show for c in credits if c.posting.show is not None})
        ends = await self.show_ends(shows) if shows else {}
        taken = await _taken(conn, party, currency)
        return plan(balance, [c.posting for c in credits], ends, taken, self.clock(), self.hold_s), credits

    # --- what each party could get --------------------------------------------------------

    async def standings(self, party: str | None = None) -> list[Standing]:
        known = await self.accounts.all()
        out: list[Standing] = []
        async with self.engine.connect() as conn:
            for account_id, who, cur, balance in await _earnings_rows(conn, party, lock=False):
                p, _credits_ = await self._plan(conn, account_id, who, cur, balance)
                held, available = p.held, p.available
                reason = not_ready_reason(known.get(who)) if available else ""
                if available and who.startswith(INVITE_PREFIX):
                    reason = "invitation not claimed yet"
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
        if self.before_run is not None:
            report.before = await self.before_run()
            report.standings = await self.standings()
        known = await self.accounts.all()
        for s in report.standings:
            account = known.get(s.party)
            if s.available and not s.reason and account is not None:
                report.requested += await self.request(s.party, s.currency, account)
        for row in await self.payouts(states=[PayoutState.REQUESTED.value]):
            done = await self.send(row, after_transfer)
            if done is not None:
                (report.sent if done.state == PayoutState.PAID.value else report.failed).append(done)
        report.pending = await self.payouts(states=[PayoutState.REQUESTED.value])
        return report

    async def request(self, party: str, currency: str, account: PayoutAccount) -> list[PayoutRow]:
        """Phase 1 for one party and currency: one new payout per due show (and one for what
        belongs to no show), in one database transaction; none when nothing is available."""
        made: list[PayoutRow] = []

        async def decide(conn: AsyncConnection) -> list[Sequence[Op]]:
            made.clear()
            rows = [r for r in await _earnings_rows(conn, party, lock=self.is_pg) if r[2] == currency]
            if not rows:
                return []
            account_id, _p, _c, balance = rows[0]
            p, credits = await self._plan(conn, account_id, party, currency, balance)
            now = self.clock()
            for piece in p.slices:
                source = await _source(conn, credits, piece.show, piece.amount)
                row = PayoutRow(new_payout_id(), party, piece.amount, currency, self.rail.name, account.account_id,
                                piece.group, None, PayoutState.REQUESTED.value, "", now, source)
                await conn.execute(t.payouts.insert().values(**row.__dict__, claimed_until=0.0, updated_at=now))
                made.append(row)
            return [[self.ledger.payout_op(self._step(row, PayoutState.REQUESTED)) for row in made]]

        await self.ledger.unit(decide)
        return list(made)

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
        request = TransferRequest(row.id, row.account_id, row.amount, row.currency, row.transfer_group,
                                  row.source_transaction)
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
