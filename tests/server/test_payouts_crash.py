"""``notalabel payouts run`` killed with SIGKILL right after a transfer, before its ledger
steps, again and again: the re-runs never pay anyone twice (one Stripe transfer per payee,
the same idempotency key on every retry), lose no payout, and the ledger checks out.
On SQLite and PostgreSQL, against the Stripe double over loopback."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from payments import reports
from payments.ledger import Ledger
from payments.payout_accounts import PayoutAccounts
from payments.reversals import Refund
from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from server.db import make_engine, migrate
from tests.support.stripe_double import StripeDouble, stripe_double

PARTIES = ("user:1", "user:2", "user:3", "user:4")


async def payouts_run(database_url: str, double: StripeDouble, data_dir: Path, kill_after: int,
                      *extra: str) -> tuple[int, str]:
    env = {**os.environ, "NOTALABEL_DATABASE": database_url, "NOTALABEL_DATA_DIR": str(data_dir),
           "NOTALABEL_PAYMENTS": "stripe", "NOTALABEL_STRIPE_SECRET_KEY": "sk_test_double",
           "NOTALABEL_STRIPE_WEBHOOK_SECRET": "whsec_crash", "NOTALABEL_STRIPE_API_BASE": double.url,
           "NOTALABEL_PAYOUT_HOLD_S": "0", "NOTALABEL_PAYOUT_CLAIM_S": "0",
           "NOTALABEL_PAYOUT_KILL_AFTER": str(kill_after)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server.cli", "payouts", *extra, env=env,
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return proc.returncode if proc.returncode is not None else -1, out.decode()


async def test_sigkill_after_transfers_never_pays_twice(tmp_path: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    await migrate(engine, database_url)
    ledger = Ledger(engine)
    sheet = SplitSheet(tuple(Share(p, 2_500, Role.ARTIST if i == 0 else Role.BAND) for i, p in enumerate(PARTIES)))
    for i in range(3):
        await ledger.record_tip(f"tip-{i}", Revenue(gross=2_000 + i, currency="USD", sheet=sheet, fee=60,
                                                    processor="stripe"))
    accounts = PayoutAccounts(engine, ledger.store.clock)
    for i, party in enumerate(PARTIES):
        await accounts.add(party, "stripe", f"acct_crash_{i}", ready=True)
    owed = {p: b.balance for p in PARTIES for b in await reports.balances(engine, p) if b.kind == "earnings"}
    try:
        async with stripe_double() as double:
            code, out = await payouts_run(database_url, double, tmp_path, 0, "run", "--dry-run")
            assert code == 0 and out.count("would pay ") == len(PARTIES) and double.requests == []
            for kill_after in (1, 2):
                code, _ = await payouts_run(database_url, double, tmp_path, kill_after, "run")
                assert code == -signal.SIGKILL
            code, out = await payouts_run(database_url, double, tmp_path, 0, "status")
            assert code == 0 and "requested" in out  # the killed runs' payouts wait, visibly
            assert (await payouts_run(database_url, double, tmp_path, 0, "run"))[0] == 0
            code, out = await payouts_run(database_url, double, tmp_path, 0, "run")  # nothing left
            assert code == 0 and "paid:" not in out and "requested:" not in out
            sent = double.of("POST", "/v1/transfers")
            assert len(sent) > len(PARTIES)  # the killed runs' transfers were sent again ...
            keys = Counter(r.headers["Idempotency-Key"] for r in sent)
            assert len(keys) == len(PARTIES)  # ... always with the payout's own key
            paid = {t["destination"]: t["amount"] for t in double.transfers.values()}
            assert len(double.transfers) == len(PARTIES)  # one transfer per payee
            assert paid == {f"acct_crash_{i}": owed[p] for i, p in enumerate(PARTIES)}
        for party in PARTIES:
            left = {b.kind: b.balance for b in await reports.balances(engine, party)}
            assert left["earnings"] == left["payout_pending"] == left["in_transit"] == 0
        report = await reports.check(engine)
        assert report.ok, report
    finally:
        await engine.dispose()


MANY = tuple(f"user:{100 + i}" for i in range(10))


async def killed_at_random(database_url: str, double: StripeDouble, data_dir: Path, rng: random.Random) -> None:
    """Start ``payouts run`` and SIGKILL it once the double has seen a random number of requests."""
    env = {**os.environ, "NOTALABEL_DATABASE": database_url, "NOTALABEL_DATA_DIR": str(data_dir),
           "NOTALABEL_PAYMENTS": "stripe", "NOTALABEL_STRIPE_SECRET_KEY": "sk_test_double",
           "NOTALABEL_STRIPE_WEBHOOK_SECRET": "whsec_crash", "NOTALABEL_STRIPE_API_BASE": double.url,
           "NOTALABEL_PAYOUT_HOLD_S": "0", "NOTALABEL_PAYOUT_CLAIM_S": "0"}
    seen = len(double.requests)
    target = seen + rng.randrange(0, len(MANY))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server.cli", "payouts", "run", env=env,
                                                stdout=asyncio.subprocess.DEVNULL)
    while len(double.requests) < target and proc.returncode is None:
        try:
            await asyncio.wait_for(proc.wait(), 0.01)
        except TimeoutError:
            pass
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


@pytest.mark.timeout(900)  # ten runs of the CLI, each a fresh interpreter, on a loaded 2-core box
async def test_sigkill_at_random_points_never_pays_twice_nor_loses_a_payout(tmp_path: Path, database_url: str) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    engine = make_engine(database_url)
    await migrate(engine, database_url)
    ledger = Ledger(engine)
    sheet = SplitSheet(tuple(Share(p, 10_000 // len(MANY), Role.ARTIST if i == 0 else Role.BAND)
                             for i, p in enumerate(MANY)))
    for i in range(4):
        await ledger.record_sale(f"ticket:k{i}", Revenue(gross=8_000 + i, currency="USD", sheet=sheet, fee=232,
                                                         processor="stripe", room="r", show="s1"))
    accounts = PayoutAccounts(engine, ledger.store.clock)
    for i, party in enumerate(MANY):
        await accounts.add(party, "stripe", f"acct_rand_{i}", ready=True)
    owed = {p: b.balance for p in MANY for b in await reports.balances(engine, p) if b.kind == "earnings"}
    try:
        async with stripe_double() as double:
            double.delay_s = 0.02
            for _ in range(4):  # settlement killed at random points, again and again
                await killed_at_random(database_url, double, tmp_path, rng)
                assert (await reports.check(engine)).ok
            assert (await payouts_run(database_url, double, tmp_path, 0, "run"))[0] == 0
            paid = {t["destination"]: t["amount"] for t in double.transfers.values()}
            assert len(double.transfers) == len(MANY)  # one transfer per payee, never two
            assert paid == {f"acct_rand_{i}": owed[p] for i, p in enumerate(MANY)}

            # Two tickets refunded after settlement: the reversals, killed at random points too.
            for i in range(2):
                await ledger.record_refund(f"refund:k{i}", Refund(f"ticket:k{i}", 8_000 + i, "refund"))
            back = {p: -b.balance for p in MANY for b in await reports.balances(engine, p) if b.kind == "earnings"}
            for _ in range(4):
                await killed_at_random(database_url, double, tmp_path, rng)
                assert (await reports.check(engine)).ok
            assert (await payouts_run(database_url, double, tmp_path, 0, "run"))[0] == 0
            reversed_ = {t["destination"]: t["amount_reversed"] for t in double.transfers.values()}
            assert reversed_ == {f"acct_rand_{i}": back[p] for i, p in enumerate(MANY)}  # each part once
        for party in MANY:
            left = {b.kind: b.balance for b in await reports.balances(engine, party)}
            assert left["earnings"] == left["payout_pending"] == left["in_transit"] == 0
        report = await reports.check(engine)
        assert report.ok, report
    finally:
        await engine.dispose()
