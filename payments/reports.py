"""Reports read from the ledger: balances, statements, setlists, and the invariant check.

Statements cover ``[start, end)`` in epoch seconds: the opening balance of each of the party's
accounts at ``start``, every posting in the period with its source transaction, and the
closing balance at ``end``. Setlists are the performance-rights report of a show, read from
its ``performance`` transaction.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import tables as t
from payments.accounts import NO_NEGATIVE


@dataclass(frozen=True)
class Balance:
    party: str
    kind: str
    currency: str
    balance: int


async def balances(engine: AsyncEngine, party: str | None = None) -> list[Balance]:
    """Running balances, per party and account, ordered by party, kind and currency."""
    a = t.accounts
    q = sa.select(a.c.party, a.c.kind, a.c.currency, a.c.balance).order_by(a.c.party, a.c.kind, a.c.currency)
    if party is not None:
        q = q.where(a.c.party == party)
    async with engine.connect() as conn:
        return [Balance(*row) for row in await conn.execute(q)]


@dataclass(frozen=True)
class Movement:
    time: float
    transaction_id: int
    key: str
    source: str
    ref: str
    account: str
    currency: str
    amount: int
    balance: int


@dataclass(frozen=True)
class AccountSummary:
    account: str
    currency: str
    opening: int
    closing: int


@dataclass(frozen=True)
class Statement:
    party: str
    start: float
    end: float
    accounts: tuple[AccountSummary, ...]
    movements: tuple[Movement, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "party": self.party,
                "from": _iso(self.start),
                "to": _iso(self.end),
                "accounts": [asdict(s) for s in self.accounts],
                "movements": [dict(asdict(m), time=_iso(m.time)) for m in self.movements],
            },
            indent=2,
        )

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["row", "time", "transaction_id", "key", "source", "ref", "account", "currency", "amount", "balance"])
        for s in self.accounts:
            w.writerow(["opening", _iso(self.start), "", "", "", "", s.account, s.currency, "", s.opening])
        for m in self.movements:
            w.writerow(["movement", _iso(m.time), m.transaction_id, m.key, m.source, m.ref, m.account, m.currency, m.amount, m.balance])
        for s in self.accounts:
            w.writerow(["closing", _iso(self.end), "", "", "", "", s.account, s.currency, "", s.closing])
        return out.getvalue()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def statement(engine: AsyncEngine, party: str, start: float, end: float) -> Statement:
    a, p, tx = t.accounts, t.postings, t.transactions
    async with engine.connect() as conn:
        accs = (await conn.execute(
            sa.select(a.c.id, a.c.kind, a.c.currency).where(a.c.party == party).order_by(a.c.kind, a.c.currency)
        )).all()
        ids = [r.id for r in accs]
        opening_q = (
            sa.select(p.c.account_id, sa.func.sum(p.c.amount))
            .join(tx, tx.c.id == p.c.transaction_id)
            .where(p.c.account_id.in_(ids), tx.c.created_at < start)
            .group_by(p.c.account_id)
        )
        opening = {i: int(v) for i, v in await conn.execute(opening_q)}
        rows = await conn.execute(
            sa.select(tx.c.created_at, tx.c.id, tx.c.idem_key, tx.c.kind, tx.c.ref, p.c.account_id, p.c.amount)
            .join(tx, tx.c.id == p.c.transaction_id)
            .where(p.c.account_id.in_(ids), tx.c.created_at >= start, tx.c.created_at < end)
            .order_by(tx.c.created_at, tx.c.id, p.c.line)
        )
        names = {r.id: (r.kind, r.currency) for r in accs}
        running = dict(opening)
        moves = []
        for at, tid, key, kind, ref, aid, amount in rows:
            running[aid] = running.get(aid, 0) + amount
            acc, cur = names[aid]
            moves.append(Movement(at, tid, key, kind, ref or "", acc, cur, amount, running[aid]))
    summaries = tuple(
        AccountSummary(r.kind, r.currency, opening.get(r.id, 0), running.get(r.id, 0)) for r in accs
    )
    return Statement(party, start, end, summaries, tuple(moves))


SETLIST_HEADER = [
    "show", "song_title", "writers", "publishers", "iswc", "performed_at", "venue", "duration_s",
]


async def setlist_csv(engine: AsyncEngine, show: str) -> str:
    """The performance-rights report of ``show``: one row per song performed."""
    tx = t.transactions
    q = sa.select(tx.c.meta).where(tx.c.ref == f"show:{show}", tx.c.kind == "performance").order_by(tx.c.id)
    async with engine.connect() as conn:
        metas = [json.loads(m) for (m,) in await conn.execute(q)]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(SETLIST_HEADER)
    for meta in metas:
        for title, sheet, iswc, performed_at, duration in meta["songs"]:
            writers = [s for s in sheet if s[2] == "songwriter"]
            publishers = [s for s in sheet if s[2] == "publisher"]
            w.writerow([
                show, title, _people(writers), _people(publishers), iswc,
                _iso(performed_at), f"online: {meta['room']}", duration,
            ])
    return out.getvalue()


def _people(shares: list[list[object]]) -> str:
    """``Name (IPI 123, PRO, 50.00%)`` joined with ``; ``."""
    parts = []
    for party, bps, _role, name, ipi, pro in shares:
        assert isinstance(bps, int)
        label = name or party
        parts.append(f"{label} (IPI {ipi or '-'}, {pro or '-'}, {bps // 100}.{bps % 100:02d}%)")
    return "; ".join(parts)


@dataclass(frozen=True)
class CheckReport:
    """Offending ids per invariant; empty lists mean the ledger is sound."""

    unbalanced_transactions: tuple[int, ...]
    empty_transactions: tuple[int, ...]
    balance_mismatches: tuple[int, ...]
    forbidden_negatives: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not (self.unbalanced_transactions or self.empty_transactions
                    or self.balance_mismatches or self.forbidden_negatives)

    def lines(self) -> list[str]:
        out = []
        for name, ids in asdict(self).items():
            out.append(f"{name}: {'ok' if not ids else 'FAIL ' + ' '.join(map(str, ids))}")
        return out


async def check(engine: AsyncEngine) -> CheckReport:
    """Verify every invariant of the ledger in one consistent read."""
    a, p, tx = t.accounts, t.postings, t.transactions
    sums = sa.select(p.c.account_id, sa.func.sum(p.c.amount).label("total")).group_by(p.c.account_id).subquery()
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        unbalanced = await conn.execute(
            sa.select(p.c.transaction_id).distinct()
            .join(a, a.c.id == p.c.account_id)
            .group_by(p.c.transaction_id, a.c.currency)
            .having(sa.func.sum(p.c.amount) != 0)
        )
        empty = await conn.execute(
            sa.select(tx.c.id).outerjoin(p, p.c.transaction_id == tx.c.id)
            .where(p.c.transaction_id.is_(None), tx.c.kind != "performance")
        )
        mismatch = await conn.execute(
            sa.select(a.c.id).outerjoin(sums, sums.c.account_id == a.c.id)
            .where(a.c.balance != sa.func.coalesce(sums.c.total, 0))
        )
        negative = await conn.execute(
            sa.select(a.c.id).where(a.c.flags.op("&")(NO_NEGATIVE) != 0, a.c.balance < 0)
        )
        return CheckReport(
            tuple(sorted(r[0] for r in unbalanced)),
            tuple(sorted(r[0] for r in empty)),
            tuple(sorted(r[0] for r in mismatch)),
            tuple(sorted(r[0] for r in negative)),
        )
