"""loadtest.loopwatch: a callback that holds the event loop is written down with where it was."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import time

from loadtest.loopwatch import LoopWatch


def hold_the_loop() -> None:
    time.sleep(0.15)  # the kind of thing the watch is for: blocking work on the loop


def test_a_blocking_callback_and_a_full_collection_are_recorded() -> None:
    out = io.StringIO()
    watch = LoopWatch(out, hold_ms=50, sample_ms=5)
    watch.install()
    try:
        async def main() -> None:
            asyncio.get_running_loop().call_soon(hold_the_loop)
            await asyncio.sleep(0.2)
            gc.collect()

        asyncio.run(main())
    finally:
        watch.uninstall()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    held = [r for r in records if r.get("what") == "hold_the_loop"]
    assert len(held) == 1 and held[0]["wall_ms"] >= 50
    assert held[0]["samples"] > 0 and "hold_the_loop" in held[0]["stacks"][0]["stack"]
    full = [r for r in records if r.get("gc") == 2]
    assert full and full[0]["objects"] >= 0 and full[0]["types"] is not None
