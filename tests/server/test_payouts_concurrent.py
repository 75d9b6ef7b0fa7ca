"""Two ``notalabel payouts run`` processes at once, as on two nodes: each payee is paid exactly
once (one Stripe transfer each, always under the payout's own idempotency key), every balance
is exact and the ledger checks out. The Stripe double holds the first transfer until a second
one arrives, so both runs are sending at the same time, whatever the machine's load. With the
claim (120 s) the runs share the payouts out; with no claim (0 s) both send every payout and
the idempotency keys (Stripe's and the ledger's) make the second a no-op. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from payments import reports
from payments import tables as t
from payments.ledger import Ledger
from payments.payout_accounts import PayoutAccounts
from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from server.db import make_engine, migrate
from tests.support.stripe_double import StripeDouble, stripe_double

PARTIES = tuple(f"user:{200 + i}" for i in range(5))


async def start_run(database_url: str, double: StripeDouble, data_dir: Path,
                    claim_s: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "NOTALABEL_DATABASE": database_url, "NOTALABEL_DATA_DIR": str(data_dir),
           "NOTALABEL_PAYMENTS": "stripe", "NOTALABEL_STRIPE_SECRET_KEY": "sk_test_double",
           "NOTALABEL_STRIPE_WEBHOOK_SECRET": "whsec_two", "NOTALABEL_STRIPE_API_BASE": double.url,
           "NOTALABEL_PAYOUT_HOLD_S": "0", "NOTALABEL_PAYOUT_CLAIM_S": claim_s}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "server.cli", "payouts", "run", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


@pytest.mark.timeout(600)  # two fresh interpreters at once on a loaded 2-core box
@pytest.mark.parametrize("claim_s", ["120", "0"])
async def test_two_settlement_runs_at_once_pay_each_payee_once(tmp_path: Path, database_url: str,
                                                              claim_s: str) -> None:
    engine = make_engine(database_url)
    await migrate(engine, database_url)
    ledger = Ledger(engine)
    sheet = SplitSheet(tuple(Share(p, 10_000 // len(PARTIES), Role.ARTIST if i == 0 else Role.BAND)
                             for i, p in enumerate(PARTIES)))
    for i in range(3):
        await ledger.record_sale(f"ticket:c{i}", Revenue(gross=6_000 + i, currency="USD", sheet=sheet, fee=204,
                                                         processor="stripe", room="r", show="s1"))
    accounts = PayoutAccounts(engine, ledger.store.clock)
    for i, party in enumerate(PARTIES):
        await accounts.add(party, "stripe", f"acct_two_{i}", ready=True)
    owed = {p: b.balance for p in PARTIES for b in await reports.balances(engine, p) if b.kind == "earnings"}
    assert all(v > 0 for v in owed.values()) and len(owed) == len(PARTIES)
    runs: list[asyncio.subprocess.Process] = []
    try:
        async with stripe_double() as double:
            double.hold_transfers = asyncio.Event()
            runs += [await start_run(database_url, double, tmp_path, claim_s) for _ in range(2)]
            # Each run sends one transfer at a time: two at the double means both runs are sending.
            deadline = time.monotonic() + 300
            while len(double.of("POST", "/v1/transfers")) < 2:
                assert all(r.returncode is None for r in runs), "a run ended while the other's transfer was held"
                assert time.monotonic() < deadline, "the second run never sent a transfer"
                try:
                    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in runs)), 0.05)
                except TimeoutError:
                    pass
            double.hold_transfers.set()
            outs = [b"".join(await r.communicate()).decode() for r in runs]
            # A run that ends while the other still holds a claim lists it as pending and exits 1.
            for r, out in zip(runs, outs, strict=True):
                assert r.returncode == (1 if "pending: " in out else 0), out
            assert all("paid: " in out for out in outs), outs  # both runs sent and recorded payouts

            sent = double.of("POST", "/v1/transfers")
            keys = Counter(r.headers["Idempotency-Key"] for r in sent)
            assert len(keys) == len(PARTIES)  # one key per payout, however many times it was sent
            assert len(double.transfers) == len(PARTIES)  # one transfer per payee, never two
            paid = {t["destination"]: t["amount"] for t in double.transfers.values()}
            assert paid == {f"acct_two_{i}": owed[p] for i, p in enumerate(PARTIES)}
            by_key = {key: double.answers[key]["id"] for key in keys}
            assert sorted(by_key.values()) == sorted(double.transfers)
        async with engine.connect() as conn:
            rows = (await conn.execute(t.payouts.select())).all()
        assert sorted(r.party for r in rows) == sorted(PARTIES)  # one payout per payee was requested
        assert all(r.state == "paid" and by_key[f"payout:{r.id}"] == r.transfer_id for r in rows)
        for party in PARTIES:
            left = {b.kind: b.balance for b in await reports.balances(engine, party)}
            assert left["earnings"] == left["payout_pending"] == left["in_transit"] == 0
        report = await reports.check(engine)
        assert report.ok, report
    finally:
        for r in runs:
            if r.returncode is None:
                r.kill()
                await r.wait()
        await engine.dispose()
