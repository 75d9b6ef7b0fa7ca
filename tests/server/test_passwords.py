"""The password pool: argon2 off the loop, in threads that yield the CPU to the loop."""

from __future__ import annotations

import os

from server.passwords import PasswordPool, thread_nice


async def test_hashing_threads_run_at_a_lower_priority_than_the_loop() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    pool = PasswordPool(workers=1, queue=0, nice=5)
    try:
        stored = await pool.hash("a long password")
        assert await pool.verify(stored, "a long password")
        assert not await pool.verify(stored, "another password")
        assert thread_nice(pool) == min(19, base + 5)
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the loop's own thread is untouched
    finally:
        pool.close()


async def test_nice_zero_keeps_the_threads_at_the_loops_priority() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    pool = PasswordPool(workers=1, queue=0, nice=0)
    try:
        assert thread_nice(pool) == base
    finally:
        pool.close()
