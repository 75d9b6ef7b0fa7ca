"""``GroupCommit``: callers arriving during a flush share the next one; errors reach every
caller of their batch only; a cancelled waiter is left out."""

from __future__ import annotations

import asyncio

import pytest

from payments.group_commit import GroupCommit


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.fail_on: set[int] = set()

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        await self.gate.wait()
        if self.fail_on & set(items):
            raise ValueError(f"refused {sorted(self.fail_on & set(items))}")
        return [i * 10 for i in items]


async def test_a_lone_caller_flushes_at_once_and_callers_together_share_a_batch() -> None:
    rec = Recorder()
    group: GroupCommit[int, int] = GroupCommit(rec.flush, max_batch=3)
    assert await group.submit(1) == 10
    assert await asyncio.gather(*(group.submit(i) for i in range(2, 9))) == [i * 10 for i in range(2, 9)]
    assert rec.batches == [[1], [2, 3, 4], [5, 6, 7], [8]]
    assert (group.batches, group.items) == (4, 8)


async def test_callers_arriving_during_a_flush_go_in_the_next_one() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(rec.flush)
    first = asyncio.ensure_future(group.submit(1))
    await rec.started.wait()
    later = [asyncio.ensure_future(group.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    assert rec.batches == [[1]]
    rec.gate.set()
    assert [await first, *[await f for f in later]] == [10, 20, 30]
    assert rec.batches == [[1], [2, 3]]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    rec = Recorder()
    rec.fail_on = {2}
    group: GroupCommit[int, int] = GroupCommit(rec.flush, max_batch=2)
    results = await asyncio.gather(*(group.submit(i) for i in (1, 2, 3, 4)), return_exceptions=True)
    assert isinstance(results[0], ValueError) and isinstance(results[1], ValueError)
    assert results[2:] == [30, 40]
    assert await group.submit(5) == 50


async def test_a_cancelled_waiter_is_left_out_of_a_batch_not_yet_started() -> None:
    rec = Recorder()
    rec.gate.clear()
    group: GroupCommit[int, int] = GroupCommit(rec.flush)
    first = asyncio.ensure_future(group.submit(1))
    await rec.started.wait()
    gone = asyncio.ensure_future(group.submit(2))
    kept = asyncio.ensure_future(group.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    rec.gate.set()
    assert (await first, await kept) == (10, 30)
    assert gone.cancelled()
    assert rec.batches == [[1], [3]]


def test_sizes_below_one_are_refused() -> None:
    async def flush(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError):
        GroupCommit(flush, max_batch=0)
