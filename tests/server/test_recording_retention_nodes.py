"""Retention is safe on every node (issue 13): two ``notalabel serve`` processes on one
PostgreSQL share one recordings directory and sweep it every 50 ms while recordings appear
in it. Recordings past their
retention (free ``rec_...`` recordings that ended long ago) are each deleted exactly once, by
one node or the other; a recording still being written, a kept one and one still inside its
grace stay; no sweep fails and nothing is left aside."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from server.recordings import process_start
from tests.conftest import drop_pg_schema, pg_url
from tests.support.wait import wait_until

PAST = 200


@pytest.fixture
def pg_schema() -> Any:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


def plant(root: Path, name: str, *, state: str = "ended", ended_at: float | None = None, kept: bool = False) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    meta: dict[str, Any] = {"state": state, "ended_at": ended_at}
    if state == "recording":  # written by a live process of this host (this test): not a crash to close
        meta.update(pid=os.getpid(), extra={"proc_start": process_start()})
    (directory / "recording.json").write_text(json.dumps(meta))
    (directory / "seg-0.m4s").write_bytes(b"\0" * 1000)
    if kept:
        (directory / "keep").touch()
    return directory


def deleted_in(log: str) -> list[str]:
    return [name for line in re.findall(r"retention deleted \d+ recordings: (.*)", log)
            for name in line.split(", ")]


async def test_two_nodes_sweeping_one_directory_delete_each_recording_once(
    server_process: Any, pg_schema: str, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    old = time.time() - 3600
    past = {f"rec_{i:016x}" for i in range(PAST)}
    root.mkdir()
    nodes = [server_process(database=pg_url(pg_schema), recordings_dir=str(root), recording_sweep_s=0.05,
                            recording_grace_h=0) for _ in range(2)]
    stays = [plant(root, "rec_" + "a" * 16, state="recording"), plant(root, "rec_" + "b" * 16, ended_at=old, kept=True),
             plant(root, "rec_" + "c" * 16, ended_at=time.time() + 3600)]
    for name in sorted(past):  # while both sweep
        plant(root, name, ended_at=old)

    async def left() -> set[str]:
        return {p.name for p in root.iterdir()}

    async def logged() -> list[list[str]]:
        return [deleted_in(node.log()) for node in nodes]

    await wait_until(left, lambda names: names == {p.name for p in stays}, 60)
    # A sweep logs its batch after the batch's last delete: wait for the logs to catch up.
    by_node = await wait_until(logged, lambda lists: len(lists[0]) + len(lists[1]) >= PAST, 30)
    assert sorted(by_node[0] + by_node[1]) == sorted(past)  # each once, by one node
    for node in nodes:
        assert "retention run failed" not in node.log() and "Traceback" not in node.log(), node.log()
    assert (stays[1] / "keep").exists() and (stays[0] / "seg-0.m4s").exists()
