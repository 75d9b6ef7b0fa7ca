"""A recorder that cannot write (issue 13, Done means): the recordings directory is a full
filesystem. The recording stops with the error in the studio (its stream-health card), in the
log and in the metrics, while the live show goes on (the LL-HLS playlist keeps growing and the
studio still says live)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.server.test_live import ffmpeg_publish
from tests.server.test_recording import recording, show_with_replay, stream_state
from tests.static.conftest import Pages, bearer
from tests.support.disk import full
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> Any:
    directory = tmp_path / "full"
    undo = full(directory)
    try:
        yield server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}", recordings_dir=str(directory))
    finally:
        undo()


async def test_a_full_recordings_disk_stops_the_recording_with_the_error_in_the_studio(
    pages: Pages, http: aiohttp.ClientSession, srv: ServerProcess
) -> None:
    owner = await bearer(http, "perf")
    slug, key, show_id = await show_with_replay(http, srv.url, owner)
    proc = ffmpeg_publish(f"{srv.rtmp_url}/{key}", 120)
    try:
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        status = await wait_until(lambda: recording(http, srv.url, slug, owner),
                                  lambda r: r.get("state") == "failed", 60)
        assert "No space left on device" in status["error"], status

        studio = await pages.open(f"/studio/{slug}", ctx=await pages.context("perf", signup=False))
        facts = studio.locator("#health-facts")
        await expect(facts).to_contain_text("No space left on device", timeout=30_000)
        await expect(facts).to_contain_text("The live show goes on")
        await pages.shot(studio, "studio-recording-disk-full")

        metrics = await (await http.get(f"{srv.url}/metrics")).text()
        assert re.search(r'^nal_recordings_failed_total\{reason="disk_full"\} 1\.0$', metrics, re.M), metrics
        assert f"recording of {slug} stopped, the live show goes on" in srv.log()

        r = await http.post(f"{srv.url}/api/shows/{show_id}/viewing-sessions", headers=owner)
        assert r.status == 201, await r.text()
        hls_url = (await r.json())["hls_url"]

        async def newest_segment() -> int:
            async with http.get(hls_url) as r:
                text = await r.text() if r.status == 200 else ""
            found = re.findall(r"seg-(\d+)\.m4s", text)
            return int(found[-1]) if found else -1

        first = await wait_until(newest_segment, lambda n: n >= 0, 60)
        await wait_until(newest_segment, lambda n: n >= first + 2, 60)  # the live show goes on
        assert proc.poll() is None and await stream_state(http, srv.url, slug) == "live"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
