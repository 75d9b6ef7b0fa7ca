"""A show's settlement sheet: who got what of the show's money, and why. Read from the
ledger (so it matches ``notalabel ledger check``), the payments (the split sheet each was
fixed with) and the payouts of transfer group ``show:{id}``.

The show's transactions are its sales, tips and boosts (``meta.show``), the refunds and
disputes citing them and its ``performance`` (the setlist's royalty pool). Per party: the
split lines it was paid under (role and basis points, one per distinct line), what it
earned net of refunds, what was recouped from it, and what went out for the show (paid,
reversed since, still on its way).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import tables as t
from payments.accounts import PLATFORM, AccountKind

REVENUE = ("ticket", "tip", "boost")


@dataclass
class Party:
    party: str
    name: str = ""
    lines: list[tuple[str, int]] = field(default_factory=list)
    """(role, basis points) of each split line the party was paid under."""
    earned: int = 0
    royalties: int = 0
    recouped: int = 0
    paid: int = 0
    reversed: int = 0
    in_flight: int = 0


@dataclass
class Sheet:
    show: str
    currency: str
    gross: int = 0
    fees: int = 0
    commission: int = 0
    royalty_pool: int = 0
    parties: dict[str, Party] = field(default_factory=dict)

    def party(self, who: str) -> Party:
        return self.parties.setdefault(who, Party(who))

    def to_json(self) -> dict[str, object]:
        return {"show": self.show, "currency": self.currency, "gross": self.gross, "fees": self.fees,
                "commission": self.commission, "royalty_pool": self.royalty_pool,
                "parties": [{**p.__dict__, "lines": [{"role": r, "bps": b} for r, b in p.lines]}
                            for p in self.parties.values()]}


CSV_HEADER = ["show", "currency", "party", "name", "split", "earned", "royalties", "recouped", "paid",
              "reversed", "in_flight"]


def to_csv(sheets: list[Sheet]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for s in sheets:
        w.writerow([s.show, s.currency, "(show)", "gross / fees / commission / royalty pool",
                    "", s.gross, "", "", s.fees, s.commission, s.royalty_pool])
        for p in s.parties.values():
            split = "; ".join(f"{role} {bps // 100}.{bps % 100:02d}% ({bps} bps)" for role, bps in p.lines)
            w.writerow([s.show, s.currency, p.party, p.name, split, p.earned, p.royalties, p.recouped, p.paid,
                        p.reversed, p.in_flight])
    return out.getvalue()


async def _transactions(engine: AsyncEngine, show: str) -> list[tuple[int, str, str]]:
    tx = t.transactions
    own = sa.or_(tx.c.meta.like(f'%"show":"{show}"%'), tx.c.ref == f"show:{show}")
    async with engine.connect() as conn:
        base = [(i, k, kind) for i, k, kind, m in await conn.execute(
            sa.select(tx.c.id, tx.c.idem_key, tx.c.kind, tx.c.meta).where(own))
            if json.loads(m).get("show") == show]
        keys = [k for _i, k, kind in base if kind in REVENUE]
        later = [] if not keys else [(i, k, kind) for i, k, kind in await conn.execute(
            sa.select(tx.c.id, tx.c.idem_key, tx.c.kind).where(tx.c.ref.in_(keys)))]
    return base + later


async def sheets(engine: AsyncEngine, show: str) -> list[Sheet]:
    """The show's sheet per currency (usually one)."""
    txs = await _transactions(engine, show)
    ids = [i for i, _k, _kind in txs]
    kinds = {i: kind for i, _k, kind in txs}
    a, p = t.accounts, t.postings
    out: dict[str, Sheet] = {}
    async with engine.connect() as conn:
        for tid, party, kind, cur, amount in await conn.execute(
                sa.select(p.c.transaction_id, a.c.party, a.c.kind, a.c.currency, p.c.amount)
                .join(a, a.c.id == p.c.account_id).where(p.c.transaction_id.in_(ids))):
            _add(out.setdefault(cur, Sheet(show, cur)), kinds[tid], party, kind, int(amount))
        pay_ids = [k.split(":", 1)[1] for _i, k, kind in txs if kind in REVENUE]
        for (meta,) in await conn.execute(sa.select(t.payments.c.meta).where(t.payments.c.id.in_(pay_ids))):
            for party, bps, role, name in json.loads(meta).get("sheet", []):
                for s in out.values():
                    if party in s.parties:
                        entry = s.parties[party]
                        entry.name = entry.name or name
                        if (role, bps) not in entry.lines:
                            entry.lines.append((role, bps))
        c = t.payouts.c
        for party, cur, state, amount, rev in await conn.execute(
                sa.select(c.party, c.currency, c.state, c.amount, c.reversed).where(c.transfer_group == f"show:{show}")):
            if cur not in out:
                continue
            entry = out[cur].party(party)
            if state == "paid":
                entry.paid += int(amount)
                entry.reversed += int(rev)
            elif state in ("requested", "in_transit"):
                entry.in_flight += int(amount)
    return list(out.values())


def _add(s: Sheet, tx_kind: str, party: str, kind: str, amount: int) -> None:
    if kind == AccountKind.CLEARING.value:
        s.gross -= amount if tx_kind != "performance" else 0
    elif kind == AccountKind.FEE.value:
        s.fees += amount
    elif kind == AccountKind.COMMISSION.value and party == PLATFORM:
        s.commission += amount
    elif kind == AccountKind.ROYALTY_POOL.value:
        s.royalty_pool += amount
    elif kind == AccountKind.EARNINGS.value:
        entry = s.party(party)
        if tx_kind == "performance":
            entry.royalties += amount
        else:
            entry.earned += amount
    elif kind == AccountKind.RECOUPABLE.value:
        s.party(party).recouped += amount
