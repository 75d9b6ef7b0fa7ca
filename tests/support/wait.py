"""Waiting on a condition, the one way tests wait (never a fixed sleep before an assert)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Return as soon as ``check()`` is true; fail the test if it is not within ``timeout``.

    The timeout only bounds a broken run: tests assert behaviour, not speed, so it is
    generous enough for a loaded machine."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or check}")
        await asyncio.sleep(0.02)


async def wait_until(fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Await ``fetch()`` until ``ok`` holds for its value; that value (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: last value {value!r}")
        await asyncio.sleep(0.05)
