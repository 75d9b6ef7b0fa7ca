"""Group commit: callers that arrive while a batch is being written share the next one.

``await GroupCommit(flush).submit(item)`` gives ``flush``'s result for ``item``. Rules:

- One flush runs at a time. A caller who finds none running starts one at once (nothing
  waits for a timer, so a lone caller pays no extra latency); callers who arrive while a
  flush runs wait for it and then go together, at most ``max_batch`` in arrival order.
- ``flush(items)`` returns one result per item, in order. If it raises, every caller of
  that batch gets the exception (the batch is one database transaction: nothing of it
  was written), and the next batch runs as usual.
- A caller that is cancelled while waiting is left out of its batch if the batch has not
  started; once it started, its item is written anyway and the result is dropped.
- Bounded: at most ``max_waiting`` callers are queued; the next ones wait in ``submit``
  for room (back-pressure on the caller, e.g. an HTTP request that answers later).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

Flush = Callable[[list[I]], Awaitable[Sequence[R]]]


class GroupCommit(Generic[I, R]):
    def __init__(self, flush: Flush[I, R], *, max_batch: int = 200, max_waiting: int = 10_000) -> None:
        if max_batch < 1 or max_waiting < 1:
            raise ValueError("max_batch and max_waiting must be at least 1")
        self._flush = flush
        self.max_batch = max_batch
        self._queue: deque[tuple[I, asyncio.Future[R]]] = deque()
        self._room = asyncio.Semaphore(max_waiting)
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: I) -> R:
        async with self._room:
            future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            self._queue.append((item, future))
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._drain(), name="group-commit")
            return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
                live = [(item, future) for item, future in batch if not future.done()]
                if live:
                    await self._run(live)
        finally:
            self._task = None
            if self._queue:  # cancelled (shutdown): nobody is left to flush for them
                for _item, future in self._queue:
                    future.cancel()
                self._queue.clear()

    async def _run(self, live: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _f in live])
            if len(results) != len(live):
                raise AssertionError(f"flush gave {len(results)} results for {len(live)} items")
        except asyncio.CancelledError:
            for _item, future in live:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _item, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(live)
        for (_item, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
