"""Password hashing off the event loop: argon2id in a small, bounded thread pool.

argon2-cffi releases the GIL while it hashes, so ``workers`` threads hash in parallel while
the loop keeps serving. At most ``workers + queue`` jobs are admitted at once; one more is
refused at once with 503 and ``Retry-After`` (``ServiceUnavailable``) instead of waiting
in an unbounded line, so a burst of logins can neither stall the loop nor pile up memory.

Releasing the GIL is not enough on a small host: argon2 is meant to burn CPU, and on two cores
two hashing threads leave the event loop waiting for a CPU. The hashing threads therefore run
at a lower scheduling priority (``nice``, per thread on Linux; the threads argon2 starts for
its lanes inherit it), so the kernel gives the loop the CPU first and log-in floods only slow
other log-ins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Gauge

from server.errors import ServiceUnavailable
from server.httputil import REFUSED

T = TypeVar("T")
PASSWORD_JOBS = Gauge("nal_password_jobs", "Password hash and verify jobs admitted (running or waiting)")
_hasher = PasswordHasher()


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so timing does not tell.
DUMMY_HASH = _hasher.hash("not a real password")


def _lower_priority(nice: int) -> None:
    """Run in each hashing thread as it starts: lower its own priority by ``nice`` steps."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):  # not permitted or not supported: hash at normal priority
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))


def thread_nice(pool: PasswordPool) -> int:
    """The nice value a hashing thread of ``pool`` runs at (for tests and /metrics)."""
    return pool.executor.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()


class PasswordPool:
    """Hash and verify passwords in ``workers`` threads, admitting ``workers + queue`` jobs."""

    def __init__(self, workers: int, queue: int, nice: int = 10) -> None:
        self.workers = max(1, workers)
        self.limit = self.workers + max(0, queue)
        self.admitted = 0
        self.nice = nice
        self.executor = ThreadPoolExecutor(
            self.workers, thread_name_prefix="argon2", initializer=_lower_priority, initargs=(nice,)
        )

    async def hash(self, password: str) -> str:
        return await self._run(_hasher.hash, password)

    async def verify(self, stored: str, password: str) -> bool:
        return await self._run(_verify, stored, password)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self.admitted >= self.limit:
            REFUSED.labels("password_pool_full").inc()
            raise ServiceUnavailable("too many sign-ins at once; try again in a moment", 1.0)
        self.admitted += 1
        PASSWORD_JOBS.inc()
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        # The slot is freed when the thread is done, not when a caller that hung up stops waiting.
        future.add_done_callback(self._release)
        return await asyncio.shield(future)

    def _release(self, future: asyncio.Future[Any]) -> None:
        self.admitted -= 1
        PASSWORD_JOBS.dec()
        if not future.cancelled():
            future.exception()  # retrieved here, so an abandoned job logs no "never retrieved"

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
