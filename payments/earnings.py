"""A party's earnings, explained: per room (or show) and currency, what fans paid, what the
processor and the platform took, the party's own share and what was recouped from it;
and the year-end tax summary. Read from the ledger's postings, so the figures always
match ``notalabel ledger check``'s books.

Lines group every revenue transaction the party has a posting in (ticket, tip, boost,
performance) with the refunds and disputes that cite it (``ref`` = its key), by the
original's room and show. Payout steps are not lines: the payouts table shows them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments import tables as t
from payments.accounts import PLATFORM, AccountKind

REVENUE = ("ticket", "tip", "boost")


@dataclass
class Line:
    room: str
    show: str
    currency: str
    gross: int = 0
    fees: int = 0
    commission: int = 0
    share: int = 0
    recouped: int = 0
    items: int = 0


@dataclass(frozen=True)
class _Tx:
    id: int
    key: str
    kind: str
    ref: str | None
    meta: dict[str, object]
    created_at: float


async def _party_transactions(conn: AsyncConnection, party: str) -> list[_Tx]:
    a, p, tx = t.accounts, t.postings, t.transactions
    ids = (sa.select(p.c.transaction_id).join(a, a.c.id == p.c.account_id).where(a.c.party == party))
    q = (sa.select(tx.c.id, tx.c.idem_key, tx.c.kind, tx.c.ref, tx.c.meta, tx.c.created_at)
         .where(tx.c.id.in_(ids), ~tx.c.kind.like("payout_%")).order_by(tx.c.id))
    return [_Tx(i, k, kind, ref, json.loads(m), at) for i, k, kind, ref, m, at in await conn.execute(q)]


async def _legs(conn: AsyncConnection, ids: list[int]) -> dict[int, list[tuple[str, str, str, int]]]:
    a, p = t.accounts, t.postings
    out: dict[int, list[tuple[str, str, str, int]]] = {}
    for i in range(0, len(ids), 2000):
        q = (sa.select(p.c.transaction_id, a.c.party, a.c.kind, a.c.currency, p.c.amount)
             .join(a, a.c.id == p.c.account_id).where(p.c.transaction_id.in_(ids[i:i + 2000])))
        for tid, party, kind, cur, amount in await conn.execute(q):
            out.setdefault(tid, []).append((party, kind, cur, amount))
    return out


async def _originals(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, dict[str, object]]:
    tx = t.transactions
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    q = sa.select(tx.c.idem_key, tx.c.meta).where(tx.c.idem_key.in_(wanted))
    return {k: json.loads(m) for k, m in await conn.execute(q)}


def _add(line: Line, party: str, legs: list[tuple[str, str, str, int]]) -> None:
    for who, kind, _cur, amount in legs:
        if kind == AccountKind.CLEARING.value:
            line.gross -= amount
        elif kind == AccountKind.FEE.value:
            line.fees += amount
        elif kind == AccountKind.COMMISSION.value and who == PLATFORM:
            line.commission += amount
        elif who == party and kind == AccountKind.EARNINGS.value:
            line.share += amount
        elif who == party and kind == AccountKind.RECOUPABLE.value:
            line.recouped += amount


async def lines(engine: AsyncEngine, party: str) -> list[Line]:
    async with engine.connect() as conn:
        txs = await _party_transactions(conn, party)
        legs = await _legs(conn, [x.id for x in txs])
        originals = await _originals(conn, [x.ref for x in txs if x.ref and x.kind not in REVENUE])
    out: dict[tuple[str, str, str], Line] = {}
    for x in txs:
        meta = x.meta if x.kind in REVENUE or x.kind == "performance" else originals.get(x.ref or "", {})
        room, show = str(meta.get("room") or ""), str(meta.get("show") or "")
        for cur in sorted({leg[2] for leg in legs.get(x.id, [])}):
            line = out.setdefault((room, show, cur), Line(room, show, cur))
            _add(line, party, [leg for leg in legs[x.id] if leg[2] == cur])
            line.items += x.kind in REVENUE
    return list(out.values())


TAX_HEADER = ["year", "party", "currency", "item", "amount"]


async def tax_summary_csv(engine: AsyncEngine, party: str, year: int) -> str:
    """Total paid out and gross earned by kind in the calendar year (UTC), per currency."""
    start = datetime(year, 1, 1, tzinfo=UTC).timestamp()
    end = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()
    a, p, tx = t.accounts, t.postings, t.transactions
    q = (sa.select(tx.c.kind, a.c.kind, a.c.currency, sa.func.sum(p.c.amount))
         .join(tx, tx.c.id == p.c.transaction_id).join(a, a.c.id == p.c.account_id)
         .where(a.c.party == party, tx.c.created_at >= start, tx.c.created_at < end)
         .group_by(tx.c.kind, a.c.kind, a.c.currency))
    sums: dict[tuple[str, str], int] = {}
    async with engine.connect() as conn:
        for tx_kind, acc_kind, cur, total in await conn.execute(q):
            if tx_kind == "payout_paid" and acc_kind == AccountKind.IN_TRANSIT.value:
                item = "paid_out"
                amount = -int(total)
            elif tx_kind in ("payout_returned", "payout_reversal") and acc_kind == AccountKind.EARNINGS.value:
                item, amount = "paid_out", -int(total)
            elif acc_kind == AccountKind.EARNINGS.value and not tx_kind.startswith("payout_"):
                item, amount = f"earned_{tx_kind}", int(total)
            else:
                continue
            sums[(cur, item)] = sums.get((cur, item), 0) + amount
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TAX_HEADER)
    for (cur, item), amount in sorted(sums.items()):
        w.writerow([year, party, cur, item, amount])
    return buf.getvalue()
