"""``--payout-interval-s``: run settlement every N seconds inside ``notalabel serve``.

Off by default (0): operators who prefer cron run ``notalabel payouts run``. Safe on every
node at once (``payments.settlement``: one node wins each payout's claim; the idempotency
keys make a second send harmless). A run that fails is logged and counted, and the next
tick tries again; a run in progress when the server stops is cancelled, and the next run
(on any node) finishes what it left, as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Counter

from payments.settlement import Settlement

log = logging.getLogger("notalabel.payouts")
RUNS = Counter("nal_payout_runs_total", "Periodic settlement runs by outcome", ["outcome"])


class PayoutTimer:
    def __init__(self, settlement: Settlement, interval_s: float) -> None:
        self.settlement, self.interval_s = settlement, interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="payout-timer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                report = await self.settlement.run()
            except Exception:  # noqa: BLE001 - a failed run must not end the timer; logged and counted
                RUNS.labels("failed").inc()
                log.exception("settlement run failed")
                continue
            RUNS.labels("ok").inc()
            if report.sent or report.failed:
                log.info("settlement: %d paid, %d failed, %d pending", len(report.sent), len(report.failed),
                         len(report.pending))
