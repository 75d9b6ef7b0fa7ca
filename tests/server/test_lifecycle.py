"""server.lifecycle: ordered start, reverse stop, each part at most once."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.lifecycle import Lifecycle, LifecycleError


def recorded(names: list[str]) -> tuple[Lifecycle, list[str]]:
    log: list[str] = []
    life = Lifecycle()
    for name in names:
        async def start(name: str = name) -> None:
            log.append(f"start {name}")

        async def stop(name: str = name) -> None:
            log.append(f"stop {name}")

        life.add(name, start=start, stop=stop)
    return life, log


async def test_starts_in_order_and_stops_in_reverse() -> None:
    life, log = recorded(["db", "bus", "gateway"])
    await life.start()
    await life.stop()
    assert log == ["start db", "start bus", "start gateway", "stop gateway", "stop bus", "stop db"]


async def test_drain_then_cleanup_stops_each_part_once() -> None:
    life, log = recorded(["db", "bus", "gateway", "rtmp"])
    await life.start()
    await life.stop(downto="gateway")
    await life.stop(downto="gateway")
    await life.stop()
    await life.stop()
    assert [line for line in log if line.startswith("stop")] == ["stop rtmp", "stop gateway", "stop bus", "stop db"]


async def test_parts_never_started_are_not_stopped() -> None:
    life, log = recorded(["db", "gateway", "rtmp"])
    await life.start(upto="gateway")
    await life.stop()
    assert log == ["start db", "start gateway", "stop gateway", "stop db"]


async def test_a_failing_stop_does_not_keep_the_others_running() -> None:
    life, log = recorded(["db", "bus"])

    async def broken() -> None:
        raise OSError("boom")

    life.add("gateway", stop=broken)
    await life.start()
    await life.stop()
    assert log[-2:] == ["stop bus", "stop db"]


async def test_a_stopped_part_does_not_start_again() -> None:
    life, log = recorded(["db"])
    await life.start()
    await life.stop()
    await life.start()
    assert log == ["start db", "stop db"]


def test_unknown_and_duplicate_names_are_errors() -> None:
    life, _ = recorded(["db"])
    with pytest.raises(LifecycleError):
        life.add("db")
    with pytest.raises(LifecycleError):
        life._index("nope")


async def test_the_server_parts_start_in_the_documented_order(tmp_path: Path) -> None:
    from server import services
    from server.config import Settings

    built = await services.build(Settings(data_dir=str(tmp_path)))
    names = built.lifecycle.names
    await built.lifecycle.start(upto="relay")  # and stopped before any assertion: a failure leaks nothing
    await built.stop_intake()
    await built.lifecycle.stop()
    assert names == ("database", "sessions", "bus", "payments", "payouts", "router", "viewing", "recordings",
                     "analytics", "gateway", "directory", "relay", "rtmp")
