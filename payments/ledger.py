"""The ledger's internal async API: what ticketing, tips and payouts call.

Every method takes an idempotency key. A replay of a key with the same content returns the
first ``Receipt`` (with ``replayed=True``) and writes nothing; the same key with different
content raises ``IdempotencyConflict``. Each call is one database transaction; the ``*_many``
methods put a whole batch in one transaction (all or nothing) for throughput.

The ledger never creates an engine: it is handed an ``AsyncEngine``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as t
from payments.accounts import AccountKind, AccountRef, account_ref
from payments.errors import InvalidAmount, NotFound
from payments.payouts import PayoutRequest, PayoutState, plan_payout
from payments.reversals import (
    DisputeRequest,
    DisputeState,
    DisputeStep,
    Refund,
    held,
    next_dispute_state,
    plan_dispute_lost,
    plan_dispute_open,
    plan_dispute_won,
    plan_refund,
)
from payments.royalty import (
    RECOUP_ROLES,
    Advance,
    Leg,
    Performance,
    Revenue,
    RevenueKind,
    RoyaltyPolicy,
    plan_performance,
    plan_revenue,
)
from payments.store import Context, Decide, Op, Receipt, Store

REVENUE_KINDS = frozenset(k.value for k in RevenueKind)
PAYOUT_STEPS = frozenset(s.value for s in PayoutState)


class RevenueOp(Op):
    def __init__(self, kind: RevenueKind, key: str, rev: Revenue, policy: RoyaltyPolicy) -> None:
        self.kind = kind.value
        meta = {k: v for k, v in (("room", rev.room), ("show", rev.show), ("payer", rev.payer), ("note", rev.note)) if v}
        super().__init__(key, rev.canonical(), meta)
        self.rev, self.policy, self.revenue_kind = rev, policy, kind

    def accounts(self) -> Iterable[AccountRef]:
        return self.rev.accounts()

    async def plan(self, ctx: Context) -> list[Leg]:
        cur = self.rev.currency
        debts = {
            s.party: max(0, -ctx.balance(account_ref(s.party, AccountKind.RECOUPABLE, cur)))
            for s in self.rev.sheet.shares
            if s.role in RECOUP_ROLES
        }
        return plan_revenue(self.revenue_kind, self.rev, self.policy, debts)


class AdvanceOp(Op):
    kind = "advance"

    def __init__(self, key: str, adv: Advance) -> None:
        super().__init__(key, adv.canonical(), {"note": adv.note} if adv.note else None)
        self.adv = adv

    def accounts(self) -> Iterable[AccountRef]:
        return [leg.account for leg in self.adv.legs()]

    async def plan(self, ctx: Context) -> list[Leg]:
        return self.adv.legs()


async def _original(conn: AsyncConnection, store: Store, key: str) -> tuple[int, list[Leg]]:
    tx = t.transactions
    row = (await conn.execute(sa.select(tx.c.id, tx.c.kind).where(tx.c.idem_key == key))).first()
    if row is None or row.kind not in REVENUE_KINDS:
        raise NotFound(f"no sale, tip or boost with key {key!r}")
    legs = await store.legs_of(conn, [row.id])
    return row.id, legs.get(row.id, [])


async def _referring(ctx: Context, ref: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(id, kind, meta) of the earlier transactions that reference ``ref``, oldest first."""
    tx = t.transactions
    q = sa.select(tx.c.id, tx.c.kind, tx.c.meta).where(tx.c.ref == ref).order_by(tx.c.id)
    return [(i, k, json.loads(m)) for i, k, m in await ctx.conn.execute(q) if i not in ctx.new_ids]


async def _remaining(ctx: Context, store: Store, original: list[Leg], ref: str) -> list[Leg]:
    """The original legs plus every later posting on those accounts by transactions citing it."""
    later = await _referring(ctx, ref)
    sums = {leg.account: leg.amount for leg in original}
    for legs in (await store.legs_of(ctx.conn, [i for i, _k, _m in later])).values():
        for leg in legs:
            if leg.account in sums:
                sums[leg.account] += leg.amount
    return [Leg(leg.account, sums[leg.account]) for leg in original]


class RefundOp(Op):
    kind = "refund"

    def __init__(self, key: str, refund: Refund, store: Store) -> None:
        super().__init__(key, refund.canonical(), {"reason": refund.reason} if refund.reason else None)
        self.refund, self.store = refund, store
        self.ref = refund.original_key
        self.original: list[Leg] = []

    async def prepare(self, conn: AsyncConnection) -> None:
        _id, self.original = await _original(conn, self.store, self.refund.original_key)

    def accounts(self) -> Iterable[AccountRef]:
        return [leg.account for leg in self.original]

    async def plan(self, ctx: Context) -> list[Leg]:
        remaining = await _remaining(ctx, self.store, self.original, self.refund.original_key)
        return plan_refund(remaining, self.refund.amount)


class DisputeOp(Op):
    def __init__(self, key: str, req: DisputeRequest, store: Store) -> None:
        self.kind = f"dispute_{req.step.value}"
        super().__init__(key, req.canonical(), {"dispute": req.dispute_id, "amount": req.amount})
        self.req, self.store = req, store
        self.ref = req.original_key
        self.original: list[Leg] = []

    async def prepare(self, conn: AsyncConnection) -> None:
        _id, self.original = await _original(conn, self.store, self.req.original_key)

    def accounts(self) -> Iterable[AccountRef]:
        refs = [leg.account for leg in self.original]
        for leg in self.original:
            cur = leg.account.currency
            refs += [held(leg.account), account_ref(leg.account.party, AccountKind.EARNINGS, cur)]
            refs.append(account_ref(leg.account.party, AccountKind.RECOUPABLE, cur))
        return refs

    async def plan(self, ctx: Context) -> list[Leg]:
        steps = [
            (i, k, m) for i, k, m in await _referring(ctx, self.req.original_key)
            if m.get("dispute") == self.req.dispute_id and k.startswith("dispute_")
        ]
        state = DisputeState(steps[-1][1].removeprefix("dispute_")) if steps else DisputeState.NONE
        next_dispute_state(state, self.req.step)
        if self.req.step is DisputeStep.OPEN:
            remaining = await _remaining(ctx, self.store, self.original, self.req.original_key)
            return plan_dispute_open(remaining, self.req.amount)
        open_id, _k, open_meta = steps[0]
        if open_meta["amount"] != self.req.amount:
            raise InvalidAmount(f"dispute {self.req.dispute_id} was opened for {open_meta['amount']}")
        hold = (await self.store.legs_of(ctx.conn, [open_id]))[open_id]
        if self.req.step is DisputeStep.WON:
            return plan_dispute_won(hold)
        remaining = await _remaining(ctx, self.store, self.original, self.req.original_key)
        parties = {leg.account.party for leg in hold}
        cur = hold[0].account.currency
        earnings = {p: ctx.balance(account_ref(p, AccountKind.EARNINGS, cur)) for p in sorted(parties)}
        return plan_dispute_lost(hold, remaining, self.req.amount, earnings)


class PayoutOp(Op):
    def __init__(self, key: str, req: PayoutRequest) -> None:
        self.kind = f"payout_{req.step.value}"
        super().__init__(key, req.canonical(), {"payout": req.payout_id, "party": req.party, "amount": req.amount})
        self.req = req
        self.ref = f"payout:{req.payout_id}"

    def accounts(self) -> Iterable[AccountRef]:
        return self.req.accounts()

    async def plan(self, ctx: Context) -> list[Leg]:
        assert self.ref is not None
        steps = [x for x in await _referring(ctx, self.ref) if x[1].removeprefix("payout_") in PAYOUT_STEPS]
        state = PayoutState(steps[-1][1].removeprefix("payout_")) if steps else PayoutState.NONE
        if steps and (steps[0][2]["party"], steps[0][2]["amount"]) != (self.req.party, self.req.amount):
            raise InvalidAmount(f"payout {self.req.payout_id} was requested for another party or amount")
        available = ctx.balance(self.req.account(AccountKind.EARNINGS))
        return plan_payout(state, self.req, available)


class ReversalOp(Op):
    """A transfer reversal: ``amount`` of a paid payout came back from the payee's account
    (a refund after settlement), so it is back in their earnings: clearing -> earnings."""

    kind = "payout_reversal"

    def __init__(self, key: str, req: PayoutRequest) -> None:
        super().__init__(key, req.canonical(), {"payout": req.payout_id, "party": req.party, "amount": req.amount})
        self.req = req
        self.ref = f"payout:{req.payout_id}"

    def accounts(self) -> Iterable[AccountRef]:
        return [self.req.account(AccountKind.CLEARING), self.req.account(AccountKind.EARNINGS)]

    async def plan(self, ctx: Context) -> list[Leg]:
        return [Leg(self.req.account(AccountKind.CLEARING), -self.req.amount),
                Leg(self.req.account(AccountKind.EARNINGS), self.req.amount)]


class ClaimOp(Op):
    """An invitation claimed: what accrued to ``source`` (a split-sheet line of someone who
    had not joined) moves to ``target``'s earnings, the whole balance as locked."""

    kind = "claim"

    def __init__(self, key: str, source: str, target: str, currency: str) -> None:
        super().__init__(key, [source, target, currency], {"from": source, "party": target})
        self.src = account_ref(source, AccountKind.EARNINGS, currency)
        self.dst = account_ref(target, AccountKind.EARNINGS, currency)

    def accounts(self) -> Iterable[AccountRef]:
        return [self.src, self.dst]

    async def plan(self, ctx: Context) -> list[Leg]:
        amount = ctx.balance(self.src)
        return [Leg(self.src, -amount), Leg(self.dst, amount)] if amount else []


class PerformanceOp(Op):
    kind = "performance"
    allow_empty = True

    def __init__(self, key: str, perf: Performance) -> None:
        meta = {"show": perf.show, "room": perf.room, "songs": perf.canonical()[3]}
        super().__init__(key, perf.canonical(), meta)
        self.perf = perf
        self.ref = f"show:{perf.show}"

    def accounts(self) -> Iterable[AccountRef]:
        return self.perf.accounts()

    async def plan(self, ctx: Context) -> list[Leg]:
        return plan_performance(self.perf, ctx.balance(self.perf.pool))


class Ledger:
    """Records money movements. Hand it an engine; it never makes one."""

    def __init__(
        self,
        engine: AsyncEngine,
        policy: RoyaltyPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.policy = policy or RoyaltyPolicy()
        self.store = Store(engine, clock)

    async def _one(self, op: Op) -> Receipt:
        return (await self.store.run([op]))[0]

    async def record_sale(self, key: str, sale: Revenue) -> Receipt:
        """A ticket sale."""
        return await self._one(RevenueOp(RevenueKind.TICKET, key, sale, self.policy))

    async def record_tip(self, key: str, tip: Revenue) -> Receipt:
        return await self._one(RevenueOp(RevenueKind.TIP, key, tip, self.policy))

    async def record_boost(self, key: str, boost: Revenue) -> Receipt:
        """A song-request boost."""
        return await self._one(RevenueOp(RevenueKind.BOOST, key, boost, self.policy))

    async def record_revenue_many(
        self, kind: RevenueKind, items: Sequence[tuple[str, Revenue]]
    ) -> list[Receipt]:
        """Many sales, tips or boosts in one database transaction (all or nothing)."""
        return await self.store.run([RevenueOp(kind, k, r, self.policy) for k, r in items])

    async def record_tips(self, items: Sequence[tuple[str, Revenue]]) -> list[Receipt]:
        return await self.record_revenue_many(RevenueKind.TIP, items)

    async def record_refund(self, key: str, refund: Refund) -> Receipt:
        return await self._one(RefundOp(key, refund, self.store))

    async def record_dispute_step(self, key: str, step: DisputeRequest) -> Receipt:
        return await self._one(DisputeOp(key, step, self.store))

    async def record_advance(self, key: str, advance: Advance) -> Receipt:
        return await self._one(AdvanceOp(key, advance))

    async def record_payout_step(self, key: str, step: PayoutRequest) -> Receipt:
        return await self._one(PayoutOp(key, step))

    async def record_performance(self, key: str, performance: Performance) -> Receipt:
        """A show's setlist; divides the show's royalty pool among the songwriters."""
        return await self._one(PerformanceOp(key, performance))

    async def record_claim(self, source: str, target: str, currency: str) -> Receipt:
        """Move ``source``'s earnings in ``currency`` to ``target`` (``ClaimOp``). The key names
        the last transaction on the source account, so a retry of the same move is a replay
        and a later move (more accrued since) is new; nothing left raises
        ``UnbalancedTransaction``."""
        a, p = t.accounts, t.postings
        q = (sa.select(sa.func.max(p.c.transaction_id)).join(a, a.c.id == p.c.account_id)
             .where(a.c.party == source, a.c.kind == AccountKind.EARNINGS.value, a.c.currency == currency))
        async with self.engine.connect() as conn:
            last = await conn.scalar(q)
        return await self._one(ClaimOp(f"claim:{source}:{currency}:{last or 0}", source, target, currency))

    # --- units: ledger writes inside a caller's database transaction ------------------------

    def revenue_op(self, kind: RevenueKind, key: str, rev: Revenue) -> Op:
        return RevenueOp(kind, key, rev, self.policy)

    def refund_op(self, key: str, refund: Refund) -> Op:
        return RefundOp(key, refund, self.store)

    def dispute_op(self, key: str, step: DisputeRequest) -> Op:
        return DisputeOp(key, step, self.store)

    def payout_op(self, step: PayoutRequest) -> Op:
        """A payout step keyed ``payout:{id}:{step}`` (each step is written once)."""
        return PayoutOp(f"payout:{step.payout_id}:{step.step.value}", step)

    def reversal_op(self, key: str, step: PayoutRequest) -> Op:
        """Part of a paid payout reversed back into the payee's earnings (``ReversalOp``)."""
        return ReversalOp(key, step)

    async def unit(self, decide: Decide) -> list[Receipt]:
        """Run ``decide(conn)`` and write the stages of operations it returns, all in one
        database transaction (``Store.run_unit``); retried whole on a deadlock."""
        return await self.store.run_unit(decide)
