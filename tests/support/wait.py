"""Waiting on a condition, the one way tests wait (never a fixed sleep before an assert)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(check: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Return as soon as ``check()`` is true; fail the test if it is not within ``timeout``.

    The timeout only bounds a broken run: tests assert behaviour, not speed, so it is
    generous enough for a loaded machine."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or check}")
        await asyncio.sleep(0.02)
