"""server.router: typed events to their handlers; emit never blocks, dispatch reports errors."""

from __future__ import annotations

import asyncio

import pytest

from server.router import RelayStateChanged, Router, StreamStateChanged


async def test_dispatch_calls_the_handlers_of_that_type_in_order() -> None:
    router = Router()
    seen: list[str] = []

    async def first(event: StreamStateChanged) -> None:
        seen.append(f"first {event.slug}")

    async def second(event: StreamStateChanged) -> None:
        seen.append(f"second {event.slug}")

    async def other(event: RelayStateChanged) -> None:
        seen.append("relay")

    router.on(StreamStateChanged, first)
    router.on(StreamStateChanged, second)
    router.on(RelayStateChanged, other)
    await router.dispatch(StreamStateChanged("r", {"state": "live"}, "k"))
    assert seen == ["first r", "second r"]


async def test_dispatch_raises_what_the_handler_raised() -> None:
    router = Router()

    async def broken(event: StreamStateChanged) -> None:
        raise ValueError("no")

    router.on(StreamStateChanged, broken)
    with pytest.raises(ValueError):
        await router.dispatch(StreamStateChanged("r", {}, "k"))


async def test_emit_runs_later_and_close_waits_for_it() -> None:
    router = Router()
    seen: list[str] = []
    gate = asyncio.Event()

    async def slow(event: StreamStateChanged) -> None:
        await gate.wait()
        seen.append(event.slug)

    async def broken(event: RelayStateChanged) -> None:
        raise ValueError("a failing reaction is logged, not raised into the producer")

    router.on(StreamStateChanged, slow)
    router.on(RelayStateChanged, broken)
    router.emit(StreamStateChanged("a", {}, "k"))
    router.emit(RelayStateChanged("a", {}))
    assert seen == []
    closing = asyncio.create_task(router.close())
    gate.set()
    await closing
    assert seen == ["a"]


async def test_emit_drops_beyond_max_pending_and_after_close() -> None:
    router = Router(max_pending=2)
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(event: StreamStateChanged) -> None:
        await gate.wait()
        seen.append(event.slug)

    router.on(StreamStateChanged, slow)
    for slug in "abc":
        router.emit(StreamStateChanged(slug, {}, slug))
    gate.set()
    await router.close()
    router.emit(StreamStateChanged("d", {}, "d"))
    await router.close()
    assert seen == ["a", "b"]
