"""PostgreSQL under contention: tasks and processes hitting the same accounts; a writer killed
with SIGKILL mid-batch. Balances must be exact and ``ledger check`` must pass."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from payments import reports
from payments import tables as t
from payments.ledger import Ledger
from payments.royalty import RevenueKind, RoyaltyPolicy, plan_revenue
from server.ledger_cli import main as ledger_cli_main
from tests.payments.conftest import DB
from tests.payments.ledger_writer import shared_tip

ROOT = Path(__file__).resolve().parents[2]


def expected(tips: list[int]) -> Counter[tuple[str, str]]:
    total: Counter[tuple[str, str]] = Counter()
    for i in tips:
        for leg in plan_revenue(RevenueKind.TIP, shared_tip(i), RoyaltyPolicy(), {}):
            total[(leg.account.party, leg.account.kind.value)] += leg.amount
    return total


def nonzero(c: Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {k: v for k, v in c.items() if v}


async def balances(db: DB) -> dict[tuple[str, str], int]:
    return {(b.party, b.kind): b.balance for b in await reports.balances(db.engine) if b.balance}


async def tx_count(db: DB) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(t.transactions))).scalar_one())


async def test_dozens_of_tasks_on_the_same_accounts_stay_exact(pg: DB) -> None:
    ledger = Ledger(pg.engine)
    other = Ledger(pg.engine)  # a second ledger: its own id cache, same database

    async def task(n: int) -> None:
        target = ledger if n % 2 else other
        for j in range(8):
            i = n * 8 + j
            await target.record_tip(f"k:{i}", shared_tip(i))
            # and a replay of a key another task may be writing right now
            await target.record_tip(f"k:{(i * 7) % 320}", shared_tip((i * 7) % 320))

    await asyncio.gather(*(task(n) for n in range(40)))
    assert await tx_count(pg) == 320
    assert await balances(pg) == nonzero(expected(list(range(320))))
    assert (await reports.check(pg.engine)).ok


def writer(url: str, prefix: str, tips: int, batch: int, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tests.payments.ledger_writer", url, prefix, str(tips), str(batch), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


async def test_several_processes_on_the_same_accounts_stay_exact(pg: DB) -> None:
    # Three processes write the same 600 keys (same content) in batches, two more write their own.
    procs = [writer(pg.url, "same", 600, 50) for _ in range(3)]
    procs += [writer(pg.url, f"own{n}", 300, 1) for n in range(2)]
    try:
        for p in procs:
            _out, err = await asyncio.to_thread(p.communicate, timeout=120)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            stop(p)
    assert await tx_count(pg) == 600 + 2 * 300
    want = expected(list(range(600)) + list(range(300)) + list(range(300)))
    assert await balances(pg) == nonzero(want)
    assert (await reports.check(pg.engine)).ok


async def test_writer_killed_mid_batch_leaves_no_partial_transaction(pg: DB) -> None:
    batch = 2_000
    proc = writer(pg.url, "crash", 4 * batch, batch, "--forever")
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
        assert line.startswith("batch"), line
        await asyncio.sleep(0.05)  # well inside a later batch
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 30)
    finally:
        stop(proc)
    count = await tx_count(pg)
    assert count > 0 and count % batch == 0, count  # whole batches only
    async with pg.engine.connect() as conn:
        legs = await conn.execute(
            sa.select(t.postings.c.transaction_id, sa.func.count()).group_by(t.postings.c.transaction_id)
        )
        per_tx = Counter(n for _tid, n in legs)
    assert sum(per_tx.values()) == count and set(per_tx) == {6}
    report = await reports.check(pg.engine)
    assert report.ok, report.lines()
    assert await asyncio.to_thread(ledger_cli_main, ["check", "--database", pg.url]) == 0
    cli = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.ledger_cli", "check", "--database", pg.url],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "ledger check: ok" in cli.stdout
