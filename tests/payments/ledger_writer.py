"""A ledger writer process for the concurrency and crash tests.

    python -m tests.payments.ledger_writer URL PREFIX TIPS BATCH [--forever]

Records ``TIPS`` tips (keys ``PREFIX:0`` .. ``PREFIX:TIPS-1``, ``BATCH`` per database
transaction) to the shared test accounts, printing ``batch N`` after each commit. With
``--forever`` it keeps writing new batches until killed.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from payments.ledger import Ledger
from payments.royalty import Revenue
from server.db import make_engine
from tests.payments.helpers import ROOM_SHEET


def shared_tip(i: int) -> Revenue:
    return Revenue(100 + i % 997, "EUR", ROOM_SHEET, fee=7, room="shared")


async def main(url: str, prefix: str, tips: int, batch: int, forever: bool) -> None:
    engine = make_engine(url, pool_size=2)
    ledger = Ledger(engine)
    rounds = itertools.count() if forever else range(1)
    try:
        for r in rounds:
            for start in range(0, tips, batch):
                keys = range(start, min(start + batch, tips))
                await ledger.record_tips([(f"{prefix}:{r}:{i}", shared_tip(i)) for i in keys])
                print(f"batch {r} {start}", flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url, prefix, tips, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(main(url, prefix, tips, batch, "--forever" in sys.argv))
