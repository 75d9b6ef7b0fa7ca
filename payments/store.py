"""The write path: many operations, one database transaction, no lost updates.

Every write (one call or a batch) runs as one database transaction in these steps:

1. each operation reads what it needs that never changes (the original of a refund);
2. missing accounts are created (``INSERT .. ON CONFLICT DO NOTHING``) and every account the
   batch touches is locked with ``SELECT .. FOR UPDATE`` in ascending id order, so two writers
   never wait on each other in a cycle and never overwrite each other's balance;
3. the transaction rows go in with ``INSERT .. ON CONFLICT (idem_key) DO NOTHING``: the unique
   index decides, atomically, which keys are new. A key that was already there is a replay if
   its content hash matches (its first result is returned, nothing is written for it) and an
   ``IdempotencyConflict`` otherwise (the whole batch rolls back);
4. each new operation is planned against the locked balances (in memory, in batch order); the
   batch is refused if a protected account would go below zero;
5. the postings go in with one multi-row INSERT (binary ``COPY`` on PostgreSQL), and each
   touched account gets its new balance (one ``UPDATE .. FROM unnest(..)`` on PostgreSQL).

``run_unit(decide)`` puts more in the same database transaction: ``decide(conn)`` runs first
(it may read and write other tables, e.g. record a webhook event id and update the payment
it names) and returns the ledger operations to write, in stages: each stage is written as
above, in order, and a later stage sees the earlier stages' transactions (a refund of a tip
recorded in the same unit).

A deadlock or serialization failure rolls back and retries the whole batch. On SQLite one
writer per ``Store`` holds an asyncio lock and each transaction starts with a write, so SQLite
takes its write lock first and never has to upgrade a read lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from payments import tables as t
from payments.accounts import NO_NEGATIVE, AccountKind, AccountRef, account_ref
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
_TxRow = tuple[str, str, str, str | None, str, float]
_PostingRow = tuple[int, int, int, int]  # transaction id, line, account id, amount
_PG_INSERT_TX = (
    "INSERT INTO ledger_transactions (idem_key, kind, content_hash, ref, meta, created_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[]) "
    "ON CONFLICT (idem_key) DO NOTHING RETURNING id, idem_key"
)
_PG_LOCK_ACCOUNTS = "SELECT id, balance FROM ledger_accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
_PG_UPDATE_BALANCES = (
    "UPDATE ledger_accounts AS a SET balance = v.balance "
    "FROM unnest($1::bigint[], $2::bigint[]) AS v(id, balance) WHERE a.id = v.id"
)


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
    """What an operation may read while planning: locked balances and the open connection.

    ``new_ids`` are the transactions this batch is writing; they exist as rows already and
    readers of history must skip them.
    """

    def __init__(self, conn: AsyncConnection, balances: dict[AccountRef, int], new_ids: set[int]) -> None:
        self.conn = conn
        self.balances = balances
        self.new_ids = new_ids

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


Decide = Callable[[AsyncConnection], Awaitable[Sequence[Sequence[Op]]]]


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
        self._sqlite_lock = asyncio.Lock()
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def run(self, ops: Sequence[Op]) -> list[Receipt]:
        async def decide(_conn: AsyncConnection) -> list[Sequence[Op]]:
            return [ops]

        return await self.run_unit(decide)

    async def run_unit(self, decide: Decide) -> list[Receipt]:
        """``decide(conn)`` and the ledger stages it returns, in one database transaction."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                if self.is_pg:
                    return await self._attempt(decide)
                async with self._sqlite_lock:
                    return await self._attempt(decide)
            except (DBAPIError, asyncpg.PostgresError) as exc:
                if not _retryable(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise LedgerStorageError(str(exc)) from exc
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def _attempt(self, decide: Decide) -> list[Receipt]:
        # Account ids learnt in this attempt become shared only once it has committed: an
        # account created by a transaction that rolls back never existed.
        fresh: dict[AccountRef, int] = {}
        if self.is_pg:
            # The driver's own transaction (BEGIN .. COMMIT, rolled back on any error) on a
            # connection SQLAlchemy leaves in autocommit, so SQLAlchemy statements that
            # ``decide`` or an operation runs on ``conn`` go into the same transaction without
            # SQLAlchemy's transaction bookkeeping around every batch.
            async with self._autocommit.connect() as conn:
                async with (await driver(conn)).transaction():
                    result = await self._stages(conn, decide, fresh)
        else:
            async with self.engine.begin() as conn:
                # A write first: SQLite takes its write lock now, never upgrading a read lock.
                await conn.execute(sa.text("UPDATE ledger_accounts SET flags = flags WHERE id = -1"))
                result = await self._stages(conn, decide, fresh)
        self._ids.update(fresh)
        return result

    async def _stages(self, conn: AsyncConnection, decide: Decide, fresh: dict[AccountRef, int]) -> list[Receipt]:
        result: list[Receipt] = []
        for stage in await decide(conn):
            if stage:
                result += await self._write(conn, stage, fresh)
        return result

    async def _write(self, conn: AsyncConnection, ops: Sequence[Op], fresh: dict[AccountRef, int]) -> list[Receipt]:
        unique: dict[str, Op] = {}
        for op in ops:
            if unique.setdefault(op.key, op).hash != op.hash:
                raise IdempotencyConflict(op.key)
        batch = list(unique.values())
        for op in batch:
            await op.prepare(conn)
        balances = await self._lock(conn, [r for op in batch for r in op.accounts()], fresh)
        now = self.clock()
        ids = await self._insert_transactions(conn, batch, now)
        existing = await self._existing(conn, [op.key for op in batch if op.key not in ids])
        for op in batch:
            if op.key in existing and existing[op.key].hash != op.hash:
                raise IdempotencyConflict(op.key)
        new = [op for op in batch if op.key in ids]
        receipts = await self._post(conn, new, ids, balances, fresh, now) if new else {}
        receipts.update(await self._replays(conn, existing))
        return [receipts[op.key] for op in ops]

    async def _existing(self, conn: AsyncConnection, keys: list[str]) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        tx = t.transactions
        cols = (tx.c.idem_key, tx.c.id, tx.c.content_hash, tx.c.kind, tx.c.created_at)
        for i in range(0, len(keys), CHUNK):
            rows = await conn.execute(sa.select(*cols).where(tx.c.idem_key.in_(keys[i : i + CHUNK])))
            for key, id_, h, kind, at in rows:
                found[key] = _Existing(id_, h, kind, at)
        return found

    def _id(self, ref: AccountRef, fresh: dict[AccountRef, int]) -> int:
        found = self._ids.get(ref)
        return fresh[ref] if found is None else found

    async def _account_ids(self, conn: AsyncConnection, refs: Iterable[AccountRef], fresh: dict[AccountRef, int]) -> None:
        """Learn the ids of ``refs``, creating the missing accounts."""
        missing = sorted({r for r in refs if r not in self._ids and r not in fresh}, key=str)
        if not missing:
            return
        now = self.clock()
        rows = [
            {"party": r.party, "kind": r.kind.value, "currency": r.currency, "flags": r.flags,
             "balance": 0, "created_at": now}
            for r in missing
        ]
        ins = (postgresql.insert if self.is_pg else sqlite.insert)(t.accounts).on_conflict_do_nothing()
        for i in range(0, len(rows), CHUNK):
            await conn.execute(ins, rows[i : i + CHUNK])
        a = t.accounts
        parties = sorted({r.party for r in missing})
        for i in range(0, len(parties), CHUNK):
            q = sa.select(a.c.id, a.c.party, a.c.kind, a.c.currency).where(a.c.party.in_(parties[i : i + CHUNK]))
            for id_, party, kind, cur in await conn.execute(q):
                ref = account_ref(party, AccountKind(kind), cur)
                if ref not in self._ids:
                    fresh[ref] = id_

    async def _lock(
        self, conn: AsyncConnection, refs: Iterable[AccountRef], fresh: dict[AccountRef, int]
    ) -> dict[AccountRef, int]:
        """Lock the accounts in ascending id order; their balances, as of the lock."""
        wanted = set(refs)
        await self._account_ids(conn, wanted, fresh)
        by_id = {self._id(r, fresh): r for r in wanted}
        order = sorted(by_id)
        a = t.accounts
        balances: dict[AccountRef, int] = {}
        for i in range(0, len(order), CHUNK):
            if self.is_pg:  # one SQL text for any number of accounts: prepared once per connection
                rows = await (await self._raw(conn)).fetch(_PG_LOCK_ACCOUNTS, order[i : i + CHUNK])
            else:
                q = sa.select(a.c.id, a.c.balance).where(a.c.id.in_(order[i : i + CHUNK])).order_by(a.c.id)
                rows = await conn.execute(q.with_for_update())
            for id_, bal in rows:
                balances[by_id[id_]] = bal
        if len(balances) != len(wanted):
            raise LedgerStorageError("an account vanished while locking")
        return balances

    async def _insert_transactions(self, conn: AsyncConnection, ops: list[Op], now: float) -> dict[str, int]:
        """Insert the transaction rows whose keys are new; their ids by key."""
        rows: list[_TxRow] = [
            (op.key, op.kind, op.hash, op.ref, json.dumps(op.meta, separators=(",", ":")), now) for op in ops
        ]
        ids: dict[str, int] = {}
        if self.is_pg:
            raw = await self._raw(conn)
            for i in range(0, len(rows), CHUNK * 5):
                columns = [list(c) for c in zip(*rows[i : i + CHUNK * 5], strict=True)]
                ids.update({key: id_ for id_, key in await raw.fetch(_PG_INSERT_TX, *columns)})
            return ids
        tx = t.transactions
        names = ("idem_key", "kind", "content_hash", "ref", "meta", "created_at")
        stmt = sqlite.insert(tx).on_conflict_do_nothing().returning(tx.c.id, tx.c.idem_key)
        params = [dict(zip(names, row, strict=True)) for row in rows]
        for i in range(0, len(params), CHUNK):
            for id_, key in await conn.execute(stmt, params[i : i + CHUNK]):
                ids[key] = id_
        return ids

    async def _post(
        self, conn: AsyncConnection, ops: list[Op], ids: dict[str, int], balances: dict[AccountRef, int],
        fresh: dict[AccountRef, int], now: float,
    ) -> dict[str, Receipt]:
        """Plan the new operations in order, then write their postings and the new balances."""
        ctx = Context(conn, balances, {ids[op.key] for op in ops})
        rows: list[_PostingRow] = []
        touched: set[AccountRef] = set()
        receipts: dict[str, Receipt] = {}
        for op in ops:
            legs = await op.plan(ctx)
            if not legs and not op.allow_empty:
                raise UnbalancedTransaction(f"{op.kind} {op.key!r} has no postings")
            check_balanced(legs)
            tid = ids[op.key]
            for line, leg in enumerate(legs):
                if leg.account not in balances:
                    balances.update(await self._lock(conn, [leg.account], fresh))
                new = balances[leg.account] + leg.amount
                if new < 0 and leg.account.flags & NO_NEGATIVE:
                    raise InsufficientFunds(f"{leg.account} would go to {new}")
                balances[leg.account] = new
                touched.add(leg.account)
                rows.append((tid, line, self._id(leg.account, fresh), leg.amount))
            receipts[op.key] = Receipt(tid, op.key, op.kind, tuple(legs), now)
        updates = sorted((self._id(r, fresh), balances[r]) for r in touched)
        if self.is_pg:
            raw = await self._raw(conn)
            await raw.copy_records_to_table(
                "ledger_postings", records=rows, columns=("transaction_id", "line", "account_id", "amount")
            )
            await raw.execute(_PG_UPDATE_BALANCES, [i for i, _b in updates], [b for _i, b in updates])
            return receipts
        names = ("transaction_id", "line", "account_id", "amount")
        prow = [dict(zip(names, row, strict=True)) for row in rows]
        for i in range(0, len(prow), CHUNK):
            await conn.execute(t.postings.insert(), prow[i : i + CHUNK])
        a = t.accounts
        upd = a.update().where(a.c.id == sa.bindparam("aid")).values(balance=sa.bindparam("bal"))
        await conn.execute(upd, [{"aid": i, "bal": b} for i, b in updates])
        return receipts

    @staticmethod
    async def _raw(conn: AsyncConnection) -> Any:
        return await driver(conn)

    async def _replays(self, conn: AsyncConnection, existing: dict[str, _Existing]) -> dict[str, Receipt]:
        if not existing:
            return {}
        legs = await self.legs_of(conn, [e.id for e in existing.values()])
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
                .order_by(p.c.transaction_id, p.c.line)
            )
            for tid, amount, party, kind, cur in await conn.execute(q):
                out.setdefault(tid, []).append(Leg(account_ref(party, AccountKind(kind), cur), amount))
        return out


@asynccontextmanager
async def lease(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection with no SQLAlchemy connection around it, for
    statements that run on the driver alone, each its own transaction (autocommit): half the
    CPU of ``engine.connect()`` and ``driver`` (measured: 44 against 90 us with one
    ``SELECT 1``), which every order and tip pays for its reads. The check-in runs in
    SQLAlchemy's greenlet, as its own does: returning an overflow connection closes it."""
    pooled = await engine.raw_connection()
    try:
        yield pooled.driver_connection
    finally:
        await greenlet_spawn(pooled.close)


async def driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` (same session, same open transaction), for
    array-bound bulk SQL and hot statements: SQLAlchemy's own work per execution costs
    several times the driver's round trip."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    return raw


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, whether SQLAlchemy wrapped it or not."""
    for e in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        code = getattr(e, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def _retryable(exc: BaseException) -> bool:
    """Deadlocks, serialization failures, a concurrent insert of the same key, a busy SQLite."""
    code = _sqlstate(exc)
    if code is not None:
        return code in _RETRY_SQLSTATES
    return "database is locked" in str(exc) or isinstance(exc, IntegrityError)
