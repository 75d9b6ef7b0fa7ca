"""Ledger benchmark: record N tips, each a multi-leg split with its own idempotency key.

    python -m loadtest.ledger --database URL --tips N [--replay] [--batch B] [--workers W]

Each tip is one ledger transaction (processor clearing, processor fee, platform commission,
three stakeholder shares, recoupment of the artist's advance while it lasts) with a unique
key. Tips go in batches of ``B`` per database transaction (group commit), ``W`` batches in
flight. ``--replay`` first records the tips (untimed), then times sending the same keys again
and verifies that nothing changed. Prints ``tips/s: X``; exits non-zero if ``ledger check``
fails afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

from payments import reports
from payments.ledger import Ledger
from payments.royalty import Advance, Revenue
from payments.splits import Role, Share, SplitSheet
from server.db import make_engine, migrate

ROOMS = 20


def sheets(run: str) -> list[SplitSheet]:
    return [
        SplitSheet((
            Share(f"bench:{run}:artist{r}", 6_000, Role.ARTIST),
            Share(f"bench:{run}:bass{r}", 2_500, Role.BAND),
            Share(f"bench:{run}:drums{r}", 1_500, Role.BAND),
        ))
        for r in range(ROOMS)
    ]


def tips(run: str, n: int) -> list[tuple[str, Revenue]]:
    ss = sheets(run)
    return [
        (f"bench:{run}:tip:{i}", Revenue(100 + i % 4900, "EUR", ss[i % ROOMS], fee=30, room=f"room{i % ROOMS}"))
        for i in range(n)
    ]


async def send(ledger: Ledger, items: list[tuple[str, Revenue]], batch: int, workers: int) -> float:
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    queue = iter(chunks)

    async def worker() -> None:
        for chunk in queue:
            await ledger.record_tips(chunk)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start


async def main(args: argparse.Namespace) -> int:
    engine = make_engine(args.database, pool_size=max(2, args.workers))
    try:
        await migrate(engine, args.database)
        ledger = Ledger(engine)
        run = args.run or uuid.uuid4().hex[:8]
        for r in range(ROOMS):
            await ledger.record_advance(f"bench:{run}:advance:{r}", Advance(f"bench:{run}:artist{r}", 50_000, "EUR"))
        items = tips(run, args.tips)
        if args.replay:
            await send(ledger, items, args.batch, args.workers)
            before = await reports.balances(engine)
        elapsed = await send(ledger, items, args.batch, args.workers)
        if args.replay and await reports.balances(engine) != before:
            print("replay changed balances", file=sys.stderr)
            return 1
        mode = "replayed" if args.replay else "recorded"
        print(f"{mode} {args.tips} tips in {elapsed:.3f} s (batch {args.batch}, workers {args.workers}, run {run})")
        print(f"tips/s: {args.tips / elapsed:.0f}")
        report = await reports.check(engine)
        print("ledger check: " + ("ok" if report.ok else "FAILED " + "; ".join(report.lines())))
        return 0 if report.ok else 1
    finally:
        await engine.dispose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtest.ledger", description=__doc__.split("\n")[0])
    p.add_argument("--database", default=os.environ.get("NOTALABEL_DATABASE", "sqlite:///./var/bench-ledger.sqlite3"))
    p.add_argument("--tips", type=int, default=10_000)
    p.add_argument("--replay", action="store_true", help="time sending the same keys a second time")
    p.add_argument("--batch", type=int, default=1_000, help="tips per database transaction")
    p.add_argument("--workers", type=int, default=2, help="batches in flight at once")
    p.add_argument("--run", default="", help="key prefix (default: random, so keys are new)")
    return p.parse_args(argv)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main(parse())))
