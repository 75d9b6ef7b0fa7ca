"""Checkouts and what their webhook events do to the ledger: one database transaction each.

A fan starts a payment (``PaymentBook.create``: a ``pending`` row with the split sheet fixed
now), the provider's checkout collects it, and the provider's events move it on. New rows
that arrive together are inserted together (group commit again: one statement for a lone
row, one transaction of one ``executemany`` for several). Rules:

- An event id is applied once: ``payment_events`` gets the id in the same transaction as
  the ledger postings and the payment's new state, so a redelivery (or the same event sent
  to two processes at once) writes nothing; the loser of a race sees the winner's row.
- Ledger keys come from our own ids (``tip:{id}``, ``refund:{id}:{cumulative}``,
  ``dispute:{dp}:open``), so two different events about one payment never post twice.
- Order never matters: a refund or dispute that arrives before the checkout's completion
  first records the payment (the charge proves it was paid), then itself; refunds use the
  cumulative ``amount_refunded``, so an older refund event after a newer one adds nothing;
  a dispute's close opens it first if its creation has not arrived; anything already past
  (expired after paid, created after closed) changes nothing.

States: pending -> processing (delayed method) -> paid -> refunded (fully) | charged_back
(dispute lost); pending | processing -> expired | failed. A partial refund stays paid.

Group commit: ``apply`` hands its event to a ``GroupCommit``, so the events that arrive
while one database transaction is being written go together in the next one (at most
``max_batch``). The rules above hold per event inside it: each event id is inserted once,
each payment row is locked (all of them in id order, in one statement) and moved on in
memory in arrival order, and the ledger operations go in stages so that a payment's later
operation sees its earlier ones. If the ledger refuses any of them for good, the whole
batch rolls back and each of its events is applied alone, as with ``max_batch=1``.

``apply`` returns ``Effect``s (paid, reversed) for the caller to route; a duplicate event
returns the effects the payment's state implies again (the room's publish is idempotent).
An event the ledger refuses for good (a payment row with a broken split sheet, a reversal
larger than what is left) is recorded as seen, so the provider stops retrying it, and comes
back as ``Applied.rejected``; nothing else is written. Storage errors still raise (retryable).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as t
from payments.errors import IdempotencyConflict, InsufficientFunds, LedgerUsageError, NotFound
from payments.events import (
    ChargeRefunded,
    CheckoutCompleted,
    CheckoutEnded,
    DisputeChanged,
    WebhookEvent,
)
from payments.group_commit import GroupCommit
from payments.ledger import Ledger
from payments.reversals import DisputeRequest, DisputeStep, Refund
from payments.royalty import Revenue, RevenueKind
from payments.splits import Role, Share, SplitSheet, bps_of
from payments.store import Op, driver, lease

PAID_STATES = frozenset({"paid", "refunded", "charged_back"})
OPEN_STATES = frozenset({"pending", "processing"})
PERMANENT = (LedgerUsageError, InsufficientFunds, IdempotencyConflict, NotFound)
KINDS = {"tip": RevenueKind.TIP, "boost": RevenueKind.BOOST, "ticket": RevenueKind.TICKET}


@dataclass(frozen=True)
class FeePolicy:
    """The processor's fee, as the ledger books it: ``bps`` of the gross plus ``fixed``."""

    bps: int = 290
    fixed: int = 30

    def fee(self, gross: int) -> int:
        return min(gross, bps_of(gross, self.bps) + self.fixed)


@dataclass(frozen=True)
class Payment:
    id: str
    kind: str
    status: str
    payer: str
    room: str
    amount: int
    currency: str
    provider: str
    session_id: str | None = None
    payment_intent: str | None = None
    charge: str | None = None
    refunded: int = 0
    dispute: str | None = None
    dispute_status: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def ledger_key(self) -> str:
        return f"{self.kind}:{self.id}"

    def sheet(self) -> SplitSheet:
        return SplitSheet(tuple(Share(p, b, Role(r), n) for p, b, r, n in self.meta["sheet"]))

    def public(self) -> dict[str, Any]:
        """What the payer may see of their own payment."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "amount": self.amount,
                "currency": self.currency, "refunded": self.refunded, "room": self.room,
                "provider": self.provider, "created_at": self.created_at}


@dataclass(frozen=True)
class Effect:
    """What a payment's change means outside the ledger: ``paid`` or ``reversed``."""

    kind: str
    payment: Payment


@dataclass
class Applied:
    duplicate: bool = False
    rejected: str = ""
    payment: Payment | None = None
    effects: list[Effect] = field(default_factory=list)


def sheet_rows(sheet: SplitSheet) -> list[list[Any]]:
    return [[s.party, s.bps, s.role.value, s.name] for s in sheet.shares]


def new_payment_id(kind: str) -> str:
    return f"{kind[:3]}_{secrets.token_hex(10)}"


def _payment(row: Any) -> Payment:
    """A payment from its row by column name (SQLAlchemy's ``row._mapping`` or asyncpg's record)."""
    m = dict(row.items())
    m["meta"] = json.loads(m["meta"])
    return Payment(**m)


Resolver = Callable[[str], Awaitable[str | None]]
_Item = tuple[WebhookEvent, Resolver | None]
_SET_SESSION = t.payments.update().where(t.payments.c.id == sa.bindparam("p_id")).values(
    session_id=sa.bindparam("p_session"), updated_at=sa.bindparam("p_at"))
# A batch's statements on PostgreSQL are one SQL text whatever the batch's size (the ids go
# as one array), so each connection prepares them once; an ``IN (...)`` list or a multi-row
# VALUES would be a new statement, prepared again, for every batch size.
# They run on the driver connection of the batch's transaction (``payments.store.driver``).
_COLUMNS = tuple(t.payments.c.keys())
_STORED = ("status", "session_id", "payment_intent", "charge", "refunded", "dispute", "dispute_status")
_PG_LOCK_MANY = f"SELECT {', '.join(_COLUMNS)} FROM payments WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
_PG_FIRST_TIMES = (
    "INSERT INTO payment_events (event_id, type, received_at, payment_id) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
_PG_STORE_MANY = (
    "UPDATE payments SET updated_at = $2, "
    + ", ".join(f"{n} = ${i}" for i, n in enumerate(_STORED, start=3)) + " WHERE id = $1"
)
_PG_INSERT = (f"INSERT INTO payments ({', '.join(_COLUMNS)}) "
              f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))})")
_STORE_MANY = (t.payments.update().where(t.payments.c.id == sa.bindparam("p_id"))
               .values(updated_at=sa.bindparam("p_updated_at"), **{n: sa.bindparam(f"p_{n}") for n in _STORED}))


class PaymentBook:
    def __init__(self, engine: AsyncEngine, ledger: Ledger, fees: FeePolicy | None = None,
                 clock: Callable[[], float] = time.time, *, max_batch: int = 200) -> None:
        self.engine = engine
        self.ledger = ledger
        self.fees = fees or FeePolicy()
        self.clock = clock
        self.is_pg = engine.dialect.name == "postgresql"
        self._single = engine.execution_options(isolation_level="AUTOCOMMIT")  # one-statement writes
        self.group: GroupCommit[_Item, Applied] = GroupCommit(self._apply_batch, max_batch=max_batch)
        self.inserts: GroupCommit[dict[str, Any], None] = GroupCommit(self._insert_many, max_batch=max_batch)

    # --- rows ----------------------------------------------------------------------------

    async def create(self, payment: Payment) -> Payment:
        """Store a new payment, with the others that arrive while a batch is written."""
        now = self.clock()
        payment = replace(payment, created_at=now, updated_at=now)
        payment.sheet()  # a bad sheet is refused before anything is stored
        values = {k: getattr(payment, k) for k in t.payments.c.keys()}
        values["meta"] = json.dumps(payment.meta, separators=(",", ":"))
        await self.inserts.submit(values)
        return payment

    async def _insert_many(self, rows: list[dict[str, Any]]) -> list[None]:
        """A lone row: one statement in its own transaction (autocommit: no BEGIN and COMMIT
        round trips); several: one transaction, one ``executemany``, all or none."""
        if self.is_pg:  # on the driver: one prepared statement; executemany is all or none
            async with lease(self.engine) as raw:
                await raw.executemany(_PG_INSERT, [[r[c] for c in _COLUMNS] for r in rows])
            return [None] * len(rows)
        insert = t.payments.insert()  # one statement object: compiled once
        if len(rows) == 1:
            async with self._single.connect() as conn:
                await conn.execute(insert, rows[0])
        else:
            async with self.engine.begin() as conn:
                await conn.execute(insert, rows)
        return [None] * len(rows)

    async def set_session(self, payment_id: str, session_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_SET_SESSION, {"p_id": payment_id, "p_session": session_id, "p_at": self.clock()})

    async def fail(self, payment_id: str) -> None:
        await self._update(payment_id, status="failed")

    async def _update(self, payment_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.payments.update().where(t.payments.c.id == payment_id)
                               .values(updated_at=self.clock(), **values))

    async def get(self, payment_id: str) -> Payment | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.payments).where(t.payments.c.id == payment_id))).first()
        return _payment(row._mapping) if row else None

    async def of_payer(self, payer: str, limit: int = 100) -> list[Payment]:
        q = (sa.select(t.payments).where(t.payments.c.payer == payer)
             .order_by(t.payments.c.created_at.desc(), t.payments.c.id).limit(limit))
        async with self.engine.connect() as conn:
            return [_payment(r._mapping) for r in await conn.execute(q)]

    async def _locate(self, conn: AsyncConnection, event: WebhookEvent) -> str | None:
        p = event.payload
        ref = getattr(p, "reference", None)
        if isinstance(ref, str):
            return ref
        c = t.payments.c
        conds = []
        if isinstance(p, CheckoutCompleted | CheckoutEnded):
            conds.append(c.session_id == p.session_id)
        pi = getattr(p, "payment_intent", None)
        if isinstance(pi, str):
            conds.append(c.payment_intent == pi)
        charge = getattr(p, "charge", None)
        if isinstance(charge, str):
            conds.append(c.charge == charge)
        if not conds:
            return None
        found = (await conn.execute(sa.select(c.id).where(sa.or_(*conds)).limit(1))).scalar()
        return found if isinstance(found, str) else None

    # --- events --------------------------------------------------------------------------

    async def apply(self, event: WebhookEvent, resolve: Resolver | None = None) -> Applied:
        """Apply one verified event (see the module rules), in one database transaction that
        the events arriving meanwhile share (group commit)."""
        return await self.group.submit((event, resolve))

    async def _apply_batch(self, items: list[_Item]) -> list[Applied]:
        # A lone event takes the same path as a batch (its statements on the driver, on
        # PostgreSQL); ``apply_one`` is the fallback when the ledger refuses one for good.
        events = [event for event, _r in items]
        refs = await self._refs(items)
        try:
            return await self._apply_many(events, refs)
        except PERMANENT:
            # One of them is refused for good and the batch rolled back whole: alone, each
            # event gets exactly the answer it would have had without grouping.
            return [await self.apply_one(event, resolve) for event, resolve in items]

    async def _refs(self, items: list[_Item]) -> list[str | None]:
        """The payment each event is about: from the event itself, else a lookup, else the provider."""
        refs: list[str | None] = [getattr(e.payload, "reference", None) for e, _r in items]
        refs = [r if isinstance(r, str) else None for r in refs]
        if all(refs):
            return refs
        async with self.engine.connect() as conn:
            for i, (event, _r) in enumerate(items):
                if refs[i] is None:
                    refs[i] = await self._locate(conn, event)
        for i, (event, resolve) in enumerate(items):
            pi = getattr(event.payload, "payment_intent", None)
            if refs[i] is None and resolve is not None and isinstance(pi, str):
                refs[i] = await resolve(pi)
        return refs

    async def _apply_many(self, events: list[WebhookEvent], refs: list[str | None]) -> list[Applied]:
        """Several events in one database transaction, each as ``apply_one`` would apply it."""
        results: list[Applied] = []

        async def decide(conn: AsyncConnection) -> list[Sequence[Op]]:
            results[:] = [Applied() for _e in events]
            payments = await self._lock_many(conn, sorted({r for r in refs if r}))
            owners = [payments.get(r) if r else None for r in refs]
            new = await self._first_times(conn, events, owners)
            stages: list[list[Op]] = []
            next_stage: dict[str, int] = {}
            changed: dict[str, Payment] = {}
            for event, ref, result in zip(events, refs, results, strict=True):
                payment = payments.get(ref) if ref else None
                if event.id not in new:
                    result.duplicate, result.payment = True, payment
                    result.effects = self._standing(payment)
                    continue
                new.discard(event.id)  # the same event again later in this batch is a duplicate
                if payment is None or ref is None:
                    continue
                steps, after, effects = self._transition(payment, event)
                if after != payment:
                    payments[ref] = changed[ref] = after
                result.payment, result.effects = after, effects
                # A payment's operations follow its earlier ones; other payments' run alongside.
                first = next_stage.get(ref, 0)
                for k, ops in enumerate(steps):
                    while len(stages) <= first + k:
                        stages.append([])
                    stages[first + k].extend(ops)
                if steps:
                    next_stage[ref] = first + len(steps)
            await self._store_many(conn, list(changed.values()))
            return list(stages)

        await self.ledger.unit(decide)
        return results

    async def _lock_many(self, conn: AsyncConnection, ids: list[str]) -> dict[str, Payment]:
        if not ids:
            return {}
        if self.is_pg:
            return {p.id: p for p in map(_payment, await (await driver(conn)).fetch(_PG_LOCK_MANY, ids))}
        rows = await conn.execute(sa.select(t.payments).where(t.payments.c.id.in_(ids)).order_by(t.payments.c.id))
        return {p.id: p for p in (_payment(r._mapping) for r in rows)}

    async def _first_times(self, conn: AsyncConnection, events: list[WebhookEvent],
                           owners: list[Payment | None]) -> set[str]:
        """Record each event id not seen before (the first of repeats in this batch); those ids."""
        rows: dict[str, dict[str, Any]] = {}
        now = self.clock()
        for event, payment in zip(events, owners, strict=True):
            rows.setdefault(event.id, {"event_id": event.id, "type": event.type, "received_at": now,
                                       "payment_id": payment.id if payment else None})
        if self.is_pg:
            cols = [[r[k] for r in rows.values()] for k in ("event_id", "type", "received_at", "payment_id")]
            return {r[0] for r in await (await driver(conn)).fetch(_PG_FIRST_TIMES, *cols)}
        stmt = (sqlite.insert(t.payment_events).values(list(rows.values())).on_conflict_do_nothing()
                .returning(t.payment_events.c.event_id))
        return set((await conn.execute(stmt)).scalars())

    async def _store_many(self, conn: AsyncConnection, changed: list[Payment]) -> None:
        if not changed:
            return
        now = self.clock()
        if self.is_pg:
            await (await driver(conn)).executemany(
                _PG_STORE_MANY, [[p.id, now, *(getattr(p, n) for n in _STORED)] for p in changed])
            return
        await conn.execute(_STORE_MANY, [{"p_id": p.id, "p_updated_at": now,
                                          **{f"p_{n}": getattr(p, n) for n in _STORED}} for p in changed])

    async def apply_one(self, event: WebhookEvent, resolve: Resolver | None = None) -> Applied:
        """Apply one verified event (see the module rules) in a database transaction of its own."""
        async with self.engine.connect() as conn:
            ref = await self._locate(conn, event)
        pi = getattr(event.payload, "payment_intent", None)
        if ref is None and resolve is not None and isinstance(pi, str):
            ref = await resolve(pi)
        result = Applied()

        async def decide(conn: AsyncConnection) -> list[Sequence[Op]]:
            result.duplicate, result.payment, result.effects = False, None, []
            payment = await self._lock(conn, ref) if ref else None
            if not await self._first_time(conn, event, payment):
                result.duplicate, result.payment = True, payment
                result.effects = self._standing(payment)
                return []
            if payment is None:
                return []
            stages, after, effects = self._transition(payment, event)
            if after != payment:
                await self._store(conn, after)
            result.payment, result.effects = after, effects
            return stages

        try:
            await self.ledger.unit(decide)
        except PERMANENT as exc:
            async with self.engine.begin() as conn:
                await self._first_time(conn, event, None)
            return Applied(rejected=f"{type(exc).__name__}: {exc}")
        return result

    async def _lock(self, conn: AsyncConnection, ref: str) -> Payment | None:
        q = sa.select(t.payments).where(t.payments.c.id == ref)
        row = (await conn.execute(q.with_for_update() if self.is_pg else q)).first()
        return _payment(row._mapping) if row else None

    async def _first_time(self, conn: AsyncConnection, event: WebhookEvent, payment: Payment | None) -> bool:
        values = {"event_id": event.id, "type": event.type, "received_at": self.clock(),
                  "payment_id": payment.id if payment else None}
        ins = (postgresql.insert if self.is_pg else sqlite.insert)(t.payment_events)
        stmt = ins.values(**values).on_conflict_do_nothing().returning(t.payment_events.c.event_id)
        return (await conn.execute(stmt)).first() is not None

    async def _store(self, conn: AsyncConnection, p: Payment) -> None:
        values = {k: getattr(p, k) for k in ("status", "session_id", "payment_intent", "charge", "refunded",
                                             "dispute", "dispute_status")}
        await conn.execute(t.payments.update().where(t.payments.c.id == p.id)
                           .values(updated_at=self.clock(), **values))

    @staticmethod
    def _standing(p: Payment | None) -> list[Effect]:
        if p is None or p.status not in PAID_STATES:
            return []
        effects = [Effect("paid", p)]
        if p.status != "paid":
            effects.append(Effect("reversed", p))
        return effects

    # --- transitions (pure: payment and event in, ledger stages and the new payment out) ---

    def _transition(self, p: Payment, event: WebhookEvent) -> tuple[list[Sequence[Op]], Payment, list[Effect]]:
        ev = event.payload
        stages: list[Sequence[Op]] = []
        effects: list[Effect] = []
        if isinstance(ev, CheckoutEnded):
            if p.status in OPEN_STATES:
                p = replace(p, status=ev.reason)
            return stages, p, effects
        if isinstance(ev, CheckoutCompleted):
            p = replace(p, session_id=p.session_id or ev.session_id,
                        payment_intent=p.payment_intent or ev.payment_intent)
            if not ev.paid:
                return stages, replace(p, status="processing") if p.status == "pending" else p, effects
        p = self._pay(p, stages, effects, getattr(ev, "payment_intent", None), getattr(ev, "charge", None))
        if isinstance(ev, ChargeRefunded):
            p = self._refund(p, ev, stages, effects)
        elif isinstance(ev, DisputeChanged):
            p = self._dispute(p, ev, stages, effects)
        return stages, p, effects

    def _pay(self, p: Payment, stages: list[Sequence[Op]], effects: list[Effect],
             payment_intent: str | None, charge: str | None) -> Payment:
        p = replace(p, payment_intent=p.payment_intent or payment_intent, charge=p.charge or charge)
        if p.status in PAID_STATES:
            return p
        rev = Revenue(gross=p.amount, currency=p.currency, sheet=p.sheet(), fee=self.fees.fee(p.amount),
                      processor=p.provider, room=p.room, show=p.meta.get("show"), payer=p.payer, note=p.kind)
        stages.append([self.ledger.revenue_op(KINDS[p.kind], p.ledger_key, rev)])
        p = replace(p, status="paid")
        effects.append(Effect("paid", p))
        return p

    def _refund(self, p: Payment, ev: ChargeRefunded, stages: list[Sequence[Op]], effects: list[Effect]) -> Payment:
        total = min(ev.amount_refunded, p.amount)
        if total <= p.refunded or p.status == "charged_back":
            return p
        refund = Refund(p.ledger_key, total - p.refunded, reason="refund")
        stages.append([self.ledger.refund_op(f"refund:{p.id}:{total}", refund)])
        p = replace(p, refunded=total)
        if total >= p.amount:
            p = replace(p, status="refunded")
            effects.append(Effect("reversed", p))
        return p

    def _dispute(self, p: Payment, ev: DisputeChanged, stages: list[Sequence[Op]], effects: list[Effect]) -> Payment:
        if p.dispute not in (None, ev.dispute) or p.dispute_status in ("won", "lost"):
            return p
        amount = min(ev.amount, p.amount - p.refunded)
        if amount <= 0:
            return p
        if p.dispute is None:
            req = DisputeRequest(ev.dispute, p.ledger_key, DisputeStep.OPEN, amount)
            stages.append([self.ledger.dispute_op(f"dispute:{ev.dispute}:open", req)])
            p = replace(p, dispute=ev.dispute, dispute_status="needs_response", meta={**p.meta})
        if not ev.closed:
            return p
        step = DisputeStep.LOST if ev.status == "lost" else DisputeStep.WON
        req = DisputeRequest(ev.dispute, p.ledger_key, step, amount)
        stages.append([self.ledger.dispute_op(f"dispute:{ev.dispute}:{step.value}", req)])
        p = replace(p, dispute_status=step.value)
        if step is DisputeStep.LOST:
            p = replace(p, status="charged_back")
            effects.append(Effect("reversed", p))
        return p
