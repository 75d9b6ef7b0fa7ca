"""The real ``notalabel serve`` process: start, serve, drain on SIGTERM and exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any


def test_help_lists_every_setting() -> None:
    out = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--help"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for flag in ("--http", "--rtmp", "--data-dir", "--database", "--redis"):
        assert flag in out
    assert "NOTALABEL_HTTP" in out


def test_serve_then_sigterm_drains_and_exits_zero(server_process: Any, database_url: str) -> None:
    srv = server_process(database=database_url)
    with urllib.request.urlopen(srv.url + "/readyz", timeout=5) as answer:
        assert json.load(answer)["status"] == "ok"
    assert srv.terminate() == 0
    assert "draining" in srv.log()


async def test_sigterm_tells_room_sockets_to_reconnect(server_process: Any) -> None:
    import asyncio

    import aiohttp

    from tests.support.roomsocket import RoomSocket

    srv = server_process()
    async with aiohttp.ClientSession() as http:
        await http.post(f"{srv.url}/api/accounts", json={"username": "perf", "password": "correct horse"})
        r = await http.post(f"{srv.url}/api/sessions", json={"username": "perf", "password": "correct horse"})
        token = (await r.json())["token"]
        r = await http.post(f"{srv.url}/api/rooms", json={"title": "Drain"},
                            headers={"Authorization": f"Bearer {token}"})
        slug = (await r.json())["slug"]
        sock = await RoomSocket.connect(http, srv.ws_url, slug, token)
        assert (await sock.op("chat.send", text="before the restart"))["type"] == "ack"
        code = await asyncio.to_thread(srv.terminate)
        assert code == 0
        assert await sock.wait_closed() == 1012


def test_start_up_objects_are_frozen_out_of_full_collections(server_process: Any) -> None:
    """server.heap: once started, the server's start-up heap (the modules and classes of every
    library, ~150,000 objects) sits in the collector's permanent generation, so a full
    collection on the event loop no longer traverses it."""
    srv = server_process()
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    frozen = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("nal_gc_frozen_objects ")]
    assert frozen and frozen[0] > 50_000
