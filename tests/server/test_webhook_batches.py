"""Webhook events applied together (group commit) count exactly as they would one by one:
each event id once, a payment's events in order (even a refund before its completion),
duplicates in one batch, and a batch holding an event the ledger refuses for good."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from payments import events
from payments import tables as pt
from payments.checkout import Applied
from tests.server.test_webhooks import completed, count_events, refunded
from tests.support.money import Running, running

NET_OF_500 = 500 - (14 + 30) - 50  # gross - processor fee (2.9% + 30) - 10% commission


async def tips(srv: Running, n: int) -> tuple[list[tuple[str, str]], str]:
    owner, _ = await srv.signup("perf")
    fan, _ = await srv.signup("fay")
    slug = await srv.room(owner)
    made = [await srv.tip(slug, fan, amount=500) for _ in range(n)]
    me = await (await srv.http.get("/api/me", headers=owner)).json()
    return [(t["tip_id"], t["checkout_url"].rsplit("/", 1)[1]) for t in made], f"user:{me['id']}"


async def at_once(srv: Running, bodies: list[dict[str, Any]]) -> list[Applied]:
    """Every event submitted in the same loop turn: they all go in one batch."""
    book = srv.services.book
    parsed = [events.parse(json.dumps(b).encode()) for b in bodies]
    return await asyncio.gather(*(book.apply(e) for e in parsed))


async def ledger_keys(srv: Running) -> list[str]:
    async with srv.services.engine.connect() as conn:
        return sorted((await conn.scalars(sa.select(pt.transactions.c.idem_key))).all())


async def test_a_batch_counts_each_event_once_and_each_payment_in_order(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        made, owner = await tips(srv, 4)
        (a, sa_), (b, sb), (c, sc), (d, sd) = made
        paid_a, paid_b, paid_c = completed(a, sa_, "pi_a"), completed(b, sb, "pi_b"), completed(c, sc, "pi_c")
        back_b = refunded(b, "pi_b", 500)
        back_d, paid_d = refunded(d, "pi_d", 500), completed(d, sd, "pi_d")  # the refund first
        group = srv.services.book.group
        before = (group.batches, group.items)
        got = await at_once(srv, [paid_a, paid_b, paid_a, back_b, paid_c, back_d, paid_d, paid_c])
        assert (group.batches, group.items) == (before[0] + 1, before[1] + 8)
        assert [r.duplicate for r in got] == [False, False, True, False, False, False, False, True]
        assert not any(r.rejected for r in got)
        assert [[e.kind for e in r.effects] for r in got] == [
            ["paid"], ["paid"], ["paid"], ["reversed"], ["paid"], ["paid", "reversed"], [], ["paid"]]
        status = {p: (await srv.services.book.get(p)).status for p in (a, b, c, d)}  # type: ignore[union-attr]
        assert status == {a: "paid", b: "refunded", c: "paid", d: "refunded"}
        assert await count_events(srv) == 6
        assert (await srv.balances(owner))["earnings"] == 2 * NET_OF_500
        assert await ledger_keys(srv) == sorted([f"tip:{a}", f"tip:{b}", f"tip:{c}", f"tip:{d}",
                                                 f"refund:{b}:500", f"refund:{d}:500"])
        again = await at_once(srv, [paid_a, back_b, paid_d, back_d])
        assert all(r.duplicate for r in again)
        assert (await srv.balances(owner))["earnings"] == 2 * NET_OF_500
        assert await count_events(srv) == 6
        await srv.ledger_ok()


async def test_an_event_refused_for_good_leaves_the_rest_of_its_batch_applied(
        tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        made, owner = await tips(srv, 3)
        (good1, s1), (bad, s2), (good2, s3) = made
        broken = json.dumps({"sheet": [["user:1", 5000, "artist", "half a sheet"]]})
        async with srv.services.engine.begin() as conn:
            await conn.execute(pt.payments.update().where(pt.payments.c.id == bad).values(meta=broken))
        got = await at_once(srv, [completed(good1, s1, "pi_1"), completed(bad, s2, "pi_2"),
                                  completed(good2, s3, "pi_3")])
        assert [bool(r.rejected) for r in got] == [False, True, False]
        assert [r.duplicate for r in got] == [False, False, False]
        status = {p: (await srv.services.book.get(p)).status for p in (good1, bad, good2)}  # type: ignore[union-attr]
        assert status == {good1: "paid", bad: "pending", good2: "paid"}
        assert await count_events(srv) == 3  # the refused one is recorded as seen: no retries
        assert (await srv.balances(owner))["earnings"] == 2 * NET_OF_500
        await srv.ledger_ok()


async def test_one_at_a_time_when_the_batch_size_is_one(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url, webhook_batch_max=1) as srv:
        made, owner = await tips(srv, 3)
        group = srv.services.book.group
        before = group.batches
        got = await at_once(srv, [completed(p, s, f"pi_{i}") for i, (p, s) in enumerate(made)])
        assert group.batches == before + 3 and not any(r.duplicate or r.rejected for r in got)
        assert (await srv.balances(owner))["earnings"] == 3 * NET_OF_500
        await srv.ledger_ok()
