"""A show's revenue, read from the ledger (never from anything else), for its analytics.

Which payments belong to a show: its tickets (the payment names the show), and the tips and
boosts of its room paid while the show was current (from ``SHOW_LEAD_S`` before its start
until its end). For those payments every ledger transaction is read: the sale, tip or boost
itself (keyed ``KIND:PAYMENT``), and the refunds and disputes that reference it. Figures per
currency, in minor units:

* ``gross``: what fans paid, by source (``tickets`` by tier, ``tips``, ``boosts``);
* ``fees`` (processor), ``commission`` (platform), ``refunds``, ``disputes`` (lost),
  ``held`` (disputes still open), all as the ledger posted them (refunds reverse every leg);
* ``net``: what the show's stakeholders keep, and ``shares`` per party (earnings, with what
  went to recoup an advance, and the songwriters' royalty pool).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import tables as pt
from ticketing.model import Show

SOURCES = ("tickets", "tips", "boosts")
_SOURCE = {"ticket": "tickets", "tip": "tips", "boost": "boosts"}
_SHARE_KINDS = ("earnings", "recoupable", "royalty_pool")


async def payments_of(engine: AsyncEngine, show: Show, lead_s: float) -> list[dict[str, Any]]:
    p = pt.payments.c
    q = sa.select(p.id, p.kind, p.amount, p.currency, p.meta, p.created_at).where(p.room == show.room_slug)
    end = show.ends_at if show.ends_at is not None else float("inf")
    out = []
    async with engine.connect() as conn:
        for row in await conn.execute(q):
            meta = json.loads(row.meta or "{}")
            if row.kind == "ticket":
                if meta.get("show") != show.id:
                    continue
            elif not show.starts_at - lead_s <= row.created_at < end:
                continue
            out.append({"id": row.id, "kind": row.kind, "meta": meta, "key": f"{row.kind}:{row.id}"})
    return out


async def revenue(engine: AsyncEngine, show: Show, lead_s: float, tier_names: dict[str, str]) -> dict[str, Any]:
    """``{"currencies": {CUR: figures}, "series": [...], "supporters": [...]}`` (module docstring)."""
    payments = {p["key"]: p for p in await payments_of(engine, show, lead_s)}
    tx, po, ac = pt.transactions.c, pt.postings.c, pt.accounts.c
    figures: dict[str, dict[str, Any]] = {}
    series: dict[tuple[float, str], int] = defaultdict(int)
    supporters: dict[str, int] = defaultdict(int)
    keys = list(payments)
    async with engine.connect() as conn:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = (sa.select(tx.id, tx.idem_key, tx.kind, tx.ref, tx.created_at, po.amount, ac.party, ac.kind.label("ak"),
                           ac.currency)
                 .join(pt.postings, po.transaction_id == tx.id).join(pt.accounts, ac.id == po.account_id)
                 .where(sa.or_(tx.idem_key.in_(chunk), tx.ref.in_(chunk))).order_by(tx.id, po.line))
            for row in await conn.execute(q):
                payment = payments[row.idem_key if row.idem_key in payments else row.ref]
                f = figures.setdefault(row.currency, _empty())
                _post(f, row, payment, tier_names, series, supporters)
    for f in figures.values():
        f["net"] = sum(f["shares"].values())
    return {
        "currencies": figures,
        "series": [{"minute": m, "source": s, "amount": a} for (m, s), a in sorted(series.items())],
        "supporters": [{"name": n, "amount": a} for n, a in sorted(supporters.items(), key=lambda x: (-x[1], x[0]))][:10],
    }


def _empty() -> dict[str, Any]:
    return {"gross": {"tickets": {}, "tips": 0, "boosts": 0}, "gross_total": 0, "fees": 0, "commission": 0,
            "refunds": 0, "disputes": 0, "held": 0, "net": 0, "shares": {}}


def _post(f: dict[str, Any], row: Any, payment: dict[str, Any], tier_names: dict[str, str],
          series: dict[tuple[float, str], int], supporters: dict[str, int]) -> None:
    source = _SOURCE.get(payment["kind"], payment["kind"])
    kind, amount = row.ak, row.amount
    if kind == "clearing":
        if row.kind in ("ticket", "tip", "boost"):
            paid = -amount
            f["gross_total"] += paid
            if source == "tickets":
                tier = payment["meta"].get("tier", "")
                name = tier_names.get(tier, tier)
                f["gross"]["tickets"][name] = f["gross"]["tickets"].get(name, 0) + paid
            else:
                f["gross"][source] += paid
                supporters[str(payment["meta"].get("from") or "Anonymous")] += paid
            series[(float(int(row.created_at // 60) * 60), source)] += paid
        elif row.kind == "refund":
            f["refunds"] += amount
        elif row.kind.startswith("dispute_"):
            f["disputes"] += amount
    elif kind == "fee":
        f["fees"] += amount
    elif kind == "commission":
        f["commission"] += amount
    elif kind == "held":
        f["held"] += amount
    elif kind in _SHARE_KINDS:
        f["shares"][row.party] = f["shares"].get(row.party, 0) + amount
