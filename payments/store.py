"""The write path: many operations, one database transaction, no lost updates.

Every write (one call or a batch) runs as one database transaction in these steps:

1. look the idempotency keys up; if every key exists with the same content hash, return the
   first results and write nothing; a key used with other content raises ``IdempotencyConflict``;
2. let each new operation read what it needs that never changes (an original transaction);
3. create missing accounts (``INSERT .. ON CONFLICT DO NOTHING``) and lock every account the
   batch touches with ``SELECT .. FOR UPDATE`` in ascending id order, so two writers never
   wait on each other in a cycle and never overwrite each other's balance;
4. look the keys up again (a concurrent writer may have committed them while we waited);
5. plan each operation against the locked balances (in memory, in batch order) and refuse the
   whole batch if a protected account would go below zero;
6. insert the transactions and postings with multi-row INSERTs and write one new balance per
   touched account.

A unique-key race, deadlock or serialization failure rolls back and retries the whole batch.
On SQLite one writer per ``Store`` holds an asyncio lock and the transaction starts with a
write, so SQLite takes its write lock first and never has to upgrade a read lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as t
from payments.accounts import NO_NEGATIVE, AccountKind, AccountRef
from payments.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    LedgerStorageError,
    UnbalancedTransaction,
)
from payments.royalty import Leg, check_balanced

MAX_ATTEMPTS = 8
CHUNK = 2000
_RETRY_SQLSTATES = {"40001", "40P01", "23505"}


@dataclass(frozen=True)
class Receipt:
    """What a write returns, and what a replay of its key returns again."""

    transaction_id: int
    key: str
    kind: str
    postings: tuple[Leg, ...]
    created_at: float
    replayed: bool = field(default=False, compare=False)


def content_hash(kind: str, canonical: object) -> str:
    text = json.dumps([kind, canonical], separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Context:
    """What an operation may read while planning: locked balances and the open connection."""

    def __init__(self, conn: AsyncConnection, balances: dict[AccountRef, int]) -> None:
        self.conn = conn
        self.balances = balances

    def balance(self, ref: AccountRef) -> int:
        return self.balances.get(ref, 0)


class Op:
    """One pending write. Subclasses fill in ``accounts`` and ``plan``."""

    kind: str = ""
    ref: str | None = None
    allow_empty = False

    def __init__(self, key: str, canonical: object, meta: dict[str, Any] | None = None) -> None:
        self.key = key
        self.hash = content_hash(self.kind, canonical)
        self.meta = meta or {}

    async def prepare(self, conn: AsyncConnection) -> None:
        """Read what never changes (e.g. an original transaction) before locks are taken."""

    def accounts(self) -> Iterable[AccountRef]:
        raise NotImplementedError

    async def plan(self, ctx: Context) -> list[Leg]:
        raise NotImplementedError


@dataclass
class _Existing:
    id: int
    hash: str
    kind: str
    created_at: float


class Store:
    """Runs batches of ``Op`` against an ``AsyncEngine`` (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, clock: Any) -> None:
        self.engine = engine
        self.clock = clock
        self.is_pg = engine.dialect.name == "postgresql"
        self._ids: dict[AccountRef, int] = {}
        self._fresh: dict[AccountRef, int] = {}
        self._sqlite_lock = asyncio.Lock()

    async def run(self, ops: Sequence[Op]) -> list[Receipt]:
        for attempt in range(MAX_ATTEMPTS):
            try:
                if self.is_pg:
                    return await self._attempt(ops)
                async with self._sqlite_lock:
                    return await self._attempt(ops)
            except DBAPIError as exc:
                if not _retryable(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise LedgerStorageError(str(exc)) from exc
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def _attempt(self, ops: Sequence[Op]) -> list[Receipt]:
        # Account ids learnt in this attempt become shared only once it has committed: an
        # account created by a transaction that rolls back never existed.
        self._fresh = {}
        async with self.engine.begin() as conn:
            if not self.is_pg:
                await conn.execute(sa.text("UPDATE ledger_accounts SET flags = flags WHERE id = -1"))
            result = await self._write(conn, ops)
        self._ids.update(self._fresh)
        return result

    async def _write(self, conn: AsyncConnection, ops: Sequence[Op]) -> list[Receipt]:
        first: dict[str, Op] = {}
        for op in ops:
            prior = first.setdefault(op.key, op)
            if prior.hash != op.hash:
                raise IdempotencyConflict(op.key)
        existing = await self._existing(conn, list(first))
        pending = [op for op in first.values() if op.key not in existing]
        if pending:
            for op in pending:
                await op.prepare(conn)
            balances = await self._lock(conn, [r for op in pending for r in op.accounts()])
            existing.update(await self._existing(conn, [op.key for op in pending]))
            pending = [op for op in pending if op.key not in existing]
        new: dict[str, Receipt] = {}
        if pending:
            new = await self._insert(conn, pending, balances)
        replays = await self._replays(conn, {k: e for k, e in existing.items() if k in first})
        for op in first.values():
            e = existing.get(op.key)
            if e is not None and e.hash != op.hash:
                raise IdempotencyConflict(op.key)
        return [new[op.key] if op.key in new else replays[op.key] for op in ops]

    async def _existing(self, conn: AsyncConnection, keys: list[str]) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        tx = t.transactions
        cols = (tx.c.idem_key, tx.c.id, tx.c.content_hash, tx.c.kind, tx.c.created_at)
        for i in range(0, len(keys), CHUNK):
            rows = await conn.execute(sa.select(*cols).where(tx.c.idem_key.in_(keys[i : i + CHUNK])))
            for key, id_, h, kind, at in rows:
                found[key] = _Existing(id_, h, kind, at)
        return found

    def _id(self, ref: AccountRef) -> int:
        found = self._ids.get(ref)
        return self._fresh[ref] if found is None else found

    async def account_ids(self, conn: AsyncConnection, refs: Iterable[AccountRef]) -> None:
        """Learn the ids of ``refs``, creating the missing accounts."""
        missing = sorted({r for r in refs if r not in self._ids and r not in self._fresh}, key=str)
        if missing:
            now = self.clock()
            rows = [
                {"party": r.party, "kind": r.kind.value, "currency": r.currency, "flags": r.flags,
                 "balance": 0, "created_at": now}
                for r in missing
            ]
            ins = (postgresql.insert if self.is_pg else sqlite.insert)(t.accounts)
            for i in range(0, len(rows), CHUNK):
                await conn.execute(ins.on_conflict_do_nothing(), rows[i : i + CHUNK])
            await self._load_ids(conn, missing)

    async def _load_ids(self, conn: AsyncConnection, refs: list[AccountRef]) -> None:
        a = t.accounts
        parties = sorted({r.party for r in refs})
        for i in range(0, len(parties), CHUNK):
            q = sa.select(a.c.id, a.c.party, a.c.kind, a.c.currency).where(a.c.party.in_(parties[i : i + CHUNK]))
            for id_, party, kind, cur in await conn.execute(q):
                ref = AccountRef(party, AccountKind(kind), cur)
                if ref not in self._ids:
                    self._fresh[ref] = id_

    async def _lock(self, conn: AsyncConnection, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
        wanted = set(refs)
        await self.account_ids(conn, wanted)
        by_id = {self._id(r): r for r in wanted}
        order = sorted(by_id)
        a = t.accounts
        balances: dict[AccountRef, int] = {}
        for i in range(0, len(order), CHUNK):
            q = sa.select(a.c.id, a.c.balance).where(a.c.id.in_(order[i : i + CHUNK])).order_by(a.c.id)
            for id_, bal in await conn.execute(q.with_for_update()):
                balances[by_id[id_]] = bal
        if len(balances) != len(wanted):
            raise LedgerStorageError("an account vanished while locking")
        return balances

    async def _insert(
        self, conn: AsyncConnection, ops: list[Op], balances: dict[AccountRef, int]
    ) -> dict[str, Receipt]:
        ctx = Context(conn, balances)
        planned: list[tuple[Op, list[Leg]]] = []
        touched: set[AccountRef] = set()
        for op in ops:
            legs = await op.plan(ctx)
            if not legs and not op.allow_empty:
                raise UnbalancedTransaction(f"{op.kind} {op.key!r} has no postings")
            check_balanced(legs)
            for leg in legs:
                if leg.account not in balances:
                    balances.update(await self._lock(conn, [leg.account]))
                new = balances[leg.account] + leg.amount
                if new < 0 and leg.account.flags & NO_NEGATIVE:
                    raise InsufficientFunds(f"{leg.account} would go to {new}")
                balances[leg.account] = new
                touched.add(leg.account)
            planned.append((op, legs))
        now = self.clock()
        ids = await self._insert_transactions(conn, ops, now)
        prow = [
            {"transaction_id": ids[op.key], "account_id": self._id(leg.account), "amount": leg.amount}
            for op, legs in planned
            for leg in legs
        ]
        for i in range(0, len(prow), CHUNK):
            await conn.execute(t.postings.insert(), prow[i : i + CHUNK])
        a = t.accounts
        upd = a.update().where(a.c.id == sa.bindparam("aid")).values(balance=sa.bindparam("bal"))
        rows = sorted((self._id(r), balances[r]) for r in touched)
        await conn.execute(upd, [{"aid": i, "bal": b} for i, b in rows])
        return {
            op.key: Receipt(ids[op.key], op.key, op.kind, tuple(legs), now) for op, legs in planned
        }

    async def _insert_transactions(self, conn: AsyncConnection, ops: list[Op], now: float) -> dict[str, int]:
        tx = t.transactions
        rows = [
            {"idem_key": op.key, "kind": op.kind, "content_hash": op.hash, "ref": op.ref,
             "meta": json.dumps(op.meta, separators=(",", ":")), "created_at": now}
            for op in ops
        ]
        ids: dict[str, int] = {}
        stmt = tx.insert().returning(tx.c.id, tx.c.idem_key, sort_by_parameter_order=True)
        for i in range(0, len(rows), CHUNK):
            for id_, key in await conn.execute(stmt, rows[i : i + CHUNK]):
                ids[key] = id_
        return ids

    async def _replays(self, conn: AsyncConnection, existing: dict[str, _Existing]) -> dict[str, Receipt]:
        if not existing:
            return {}
        by_id = {e.id: k for k, e in existing.items()}
        legs = await self.legs_of(conn, list(by_id))
        return {
            k: Receipt(e.id, k, e.kind, tuple(legs.get(e.id, ())), e.created_at, replayed=True)
            for k, e in existing.items()
        }

    async def legs_of(self, conn: AsyncConnection, tx_ids: list[int]) -> dict[int, list[Leg]]:
        """Postings of the given transactions, in posting order."""
        p, a = t.postings, t.accounts
        out: dict[int, list[Leg]] = {}
        for i in range(0, len(tx_ids), CHUNK):
            q = (
                sa.select(p.c.transaction_id, p.c.amount, a.c.party, a.c.kind, a.c.currency)
                .join(a, a.c.id == p.c.account_id)
                .where(p.c.transaction_id.in_(tx_ids[i : i + CHUNK]))
                .order_by(p.c.id)
            )
            for tid, amount, party, kind, cur in await conn.execute(q):
                out.setdefault(tid, []).append(Leg(AccountRef(party, AccountKind(kind), cur), amount))
        return out


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError) and "idem_key" not in str(exc) and "uq_ledger" not in str(exc):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    if code in _RETRY_SQLSTATES:
        return True
    return "database is locked" in str(exc) or isinstance(exc, IntegrityError)
