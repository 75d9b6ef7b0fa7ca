"""Start a ``notalabel serve`` process with RTMP for the media benchmarks, and make a room.

The server listens on free loopback ports and logs to a file in its work directory;
``stop()`` sends SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from loadtest.servers import LOADTEST_LIMITS, Started, free_port, wait_ready

PASSWORD = "benchmark password"


@dataclass
class MediaServer:
    started: Started
    rtmp: str
    """``rtmp://127.0.0.1:PORT/live``"""

    @property
    def url(self) -> str:
        return self.started.url

    @property
    def pid(self) -> int:
        return self.started.pid

    def stop(self) -> None:
        self.started.stop()


def start_server(workdir: Path | None = None, extra: list[str] | None = None) -> MediaServer:
    root = workdir or Path(tempfile.mkdtemp(prefix="nal-media-"))
    root.mkdir(parents=True, exist_ok=True)
    http, rtmp = free_port(), free_port()
    args = [sys.executable, "-m", "server.cli", "serve", "--http", f"127.0.0.1:{http}",
            "--rtmp", f"127.0.0.1:{rtmp}", "--data-dir", str(root), "--log-level", "warning",
            "--log-format", "text", *LOADTEST_LIMITS, *(extra or [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALABEL_")}
    log = root / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    started = Started(f"http://127.0.0.1:{http}", proc, log)
    wait_ready(started, "/readyz")
    return MediaServer(started, f"rtmp://127.0.0.1:{rtmp}/live")


async def create_room(base: str, user: str | None = None) -> tuple[str, str]:
    """A new performer and room on ``base``: returns (slug, RTMP publish URL with the key)."""
    user = user or "bench" + uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as http:
        await http.post(f"{base}/api/accounts", json={"username": user, "password": PASSWORD})
        r = await http.post(f"{base}/api/sessions", json={"username": user, "password": PASSWORD})
        token = (await r.json())["token"]
        http.cookie_jar.clear()
        r = await http.post(f"{base}/api/rooms", json={"title": "Benchmark"},
                            headers={"Authorization": f"Bearer {token}"})
        if r.status not in (200, 201):
            raise RuntimeError(f"cannot create a room: {r.status} {await r.text()}")
        room = await r.json()
    rtmp = room["ingest"]["rtmp"]
    return room["slug"], f"{rtmp['url']}/{room['stream_key']}"


async def gate_room(base: str, slug: str, username: str) -> str:
    """Put a show with a tier on sale in the room (so its LL-HLS needs viewing tokens) and
    open the owner's viewing session: the token a viewer sends as ``?vt=``."""
    async with aiohttp.ClientSession() as http:
        r = await http.post(f"{base}/api/sessions", json={"username": username, "password": PASSWORD})
        owner = {"Authorization": f"Bearer {(await r.json())['token']}"}
        http.cookie_jar.clear()
        r = await http.post(f"{base}/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Benchmark show", "starts_at": "2030-01-01T20:00:00Z"})
        show = await r.json()
        await http.post(f"{base}/api/shows/{show['id']}/tiers", headers=owner, json={"name": "GA", "price": 1000})
        return await viewing_token(http, base, show["id"], owner)


async def viewing_token(http: aiohttp.ClientSession, base: str, show_id: str, owner: dict[str, str],
                        takeover: bool = False) -> str:
    r = await http.post(f"{base}/api/shows/{show_id}/viewing-sessions", headers=owner, json={"takeover": takeover})
    if r.status != 201:
        raise RuntimeError(f"cannot open a viewing session: {r.status} {await r.text()}")
    return str((await r.json())["token"])


async def renew_token(base: str, slug: str, username: str) -> str:
    """A fresh viewing token for the owner of ``slug``'s gated show (a new session taking over
    the last: tokens live ``--viewing-token-ttl-s``, 60 s by default)."""
    async with aiohttp.ClientSession() as http:
        r = await http.post(f"{base}/api/sessions", json={"username": username, "password": PASSWORD})
        owner = {"Authorization": f"Bearer {(await r.json())['token']}"}
        http.cookie_jar.clear()
        r = await http.get(f"{base}/api/rooms/{slug}/shows", headers=owner)
        show_id = (await r.json())["shows"][0]["id"]
        return await viewing_token(http, base, show_id, owner, takeover=True)


async def wait_for_playlist(url: str, timeout: float = 30.0) -> None:
    """Poll until the playlist answers 200 (the first segment is complete)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            async with http.get(url) as r:
                if r.status == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout} s")
