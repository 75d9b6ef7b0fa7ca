"""Real peers for the RTMP tests: ffmpeg, ffprobe, nginx with its RTMP module."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from loadtest.flvfile import read_events
from tests.support.servers import PORT_ATTEMPTS, PORT_TAKEN, listens

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ffmpeg_publish_args(
    url: str, seconds: float, size: str = "640x360", rate: int = 30
) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
        "-f", "lavfi", "-i", "sine=sample_rate=44100",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", str(rate),
        "-c:a", "aac", "-t", str(seconds), "-f", "flv", url,
    ]  # fmt: skip


async def run(args: list[str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def make_flv(path: Path, seconds: float, size: str = "320x180") -> None:
    args = [
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=sample_rate=44100",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30",
        "-c:a", "aac", "-t", str(seconds), "-f", "flv", str(path),
    ]  # fmt: skip
    code, out = await run(args, 60)
    assert code == 0, out


def load_events(path: Path) -> list[Any]:
    """Codec configs and units from an FLV file, parsed by our own parsers."""
    return list(read_events(path.read_bytes()))


async def ffprobe_streams(url: str, timeout: float = 20) -> list[dict[str, Any]]:
    args = ["ffprobe", "-v", "error", "-show_streams", "-of", "json", url]
    code, out = await run(args, timeout)
    assert code == 0, out
    return list(json.loads(out)["streams"])


@asynccontextmanager
async def nginx_rtmp(tmp: Path) -> AsyncIterator[int]:
    """nginx with the RTMP module on a free loopback port, application ``live``; it is
    listening (this nginx itself, not whatever else took the port) when this yields."""
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            f"load_module {NGINX_RTMP_MODULE};\n"
            f"daemon off; master_process off; pid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log info;\n"
            "events { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n"
        )
        proc = await asyncio.create_subprocess_exec(
            "nginx", "-e", str(tmp / "startup.log"), "-p", str(tmp), "-c", str(conf)
        )
        try:
            if await _listening(proc, port, tmp):
                yield port
                return
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
    raise RuntimeError(f"nginx could not bind a port in {PORT_ATTEMPTS} attempts")


def _take_logs(tmp: Path) -> str:
    """What nginx logged, removed so that a retry's logs say only what the retry did."""
    logs = ""
    for path in (tmp / "startup.log", tmp / "error.log"):
        if path.exists():
            logs += path.read_text(errors="replace")
            path.unlink()
    return logs


async def _listening(proc: asyncio.subprocess.Process, port: int, tmp: Path) -> bool:
    """True once ``proc`` listens on ``port``; False if it exited because the port was taken."""
    deadline = asyncio.get_running_loop().time() + 10
    while not listens(proc.pid, port):
        if proc.returncode is not None:
            logs = _take_logs(tmp)
            if PORT_TAKEN in logs.lower():
                return False
            raise RuntimeError(f"nginx exited with {proc.returncode}: {logs[-2000:]}")
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("nginx did not listen in 10 s")
        await asyncio.sleep(0.05)
    return True
