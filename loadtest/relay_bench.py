"""Relay benchmark: CPU per passthrough restream target at 6 Mbps, and the latency the relay adds.

    .venv/bin/python -m loadtest.relay_bench [--targets 1,4,8] [--seconds 20] [--bitrate 6M]

What it does: ffmpeg makes a 720p30 H.264 (``--bitrate``) + AAC 128k show; the show is fed
into an in-process hub in real time (as the RTMP ingest would); a :class:`RelaySupervisor`
restreams it to N targets on a local nginx-rtmp (a separate process, not counted). For each
N it measures this process's CPU time over ``--seconds`` and subtracts the CPU of feeding
the hub with no target: what is left, divided by N, is the CPU one target costs. Latency:
for every video unit, the time from ``Stream.write`` in the hub to the moment its bytes
were handed to the kernel (drained), i.e. what the relay adds before the network.
Reference: ``ffmpeg -re -c copy`` republishing the same show to the same nginx, its CPU
read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from loadtest.flvfile import read_show
from media.hub import Hub
from media.rtmp.from_hub import Out
from media.rtmp.units import MediaUnit
from media.units import Track, Unit
from relay.connection import RtmpConnection
from relay.destination import DestinationPolicy
from relay.keybox import KeyBox
from relay.presets import Endpoint
from relay.store import TargetStore
from relay.supervisor import RelaySupervisor
from relay.target import Publisher
from server.db import make_engine, migrate

SLUG = "bench"
STAMPS: dict[int, float] = {}
LATENCIES: list[float] = []

LOCAL = DestinationPolicy(allow_private=True)  # the benchmark's nginx is on loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_show(path: Path, bitrate: str, seconds: int = 10) -> None:
    subprocess.run([
        "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-b:v", bitrate, "-minrate", bitrate,
        "-maxrate", bitrate, "-bufsize", bitrate, "-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-b:a", "128k",
        "-f", "flv", str(path)], check=True, timeout=300)


def load(path: Path) -> tuple[tuple[Track, ...], list[Unit], int]:
    tracks, units = read_show(path)
    return tracks, units, max(u.dts for u in units) // 90 + 34


async def feed(hub: Hub, tracks: tuple[Track, ...], units: list[Unit], duration_ms: int) -> None:
    stream = hub.start_publish(SLUG, "bench", tracks)
    start, loop = time.monotonic(), 0
    while True:
        offset = loop * duration_ms * 90
        for unit in units:
            delay = start + (offset + unit.dts) / 90_000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            STAMPS[id(unit.payload)] = time.monotonic()
            stream.write(Unit(unit.track_id, unit.kind, unit.dts + offset, unit.pts + offset,
                              unit.keyframe, unit.payload))
        loop += 1


class Timed:
    """A connection that records, per video unit, hub write -> drained to the socket."""

    def __init__(self, conn: RtmpConnection) -> None:
        self.conn = conn

    @property
    def bytes_sent(self) -> int:
        return self.conn.bytes_sent

    async def send(self, items: list[Out]) -> None:
        await self.conn.send(items)
        now = time.monotonic()
        for item in items:
            if isinstance(item, MediaUnit) and item.track == "video":
                stamp = STAMPS.get(id(item.payload))
                if stamp is not None:
                    LATENCIES.append(now - stamp)

    async def close(self) -> None:
        await self.conn.close()


async def timed_connect(endpoint: Endpoint, key: str) -> Publisher:
    return Timed(await RtmpConnection.open(endpoint, key, policy=LOCAL))


def start_nginx(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    conf = workdir / "nginx.conf"
    conf.write_text(f"""load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; pid {workdir}/nginx.pid; error_log {workdir}/error.log warn;
events {{ worker_connections 512; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096; application yt {{ live on; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(conf)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def store_with_targets(engine: AsyncEngine, count: int, port: int) -> TargetStore:
    store = TargetStore(engine, KeyBox(os.urandom(32)), policy=LOCAL, max_per_room=64)
    async with engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM restream_targets"))
    for i in range(count):
        await store.create(1, "custom", f"bench-key-{i:04d}-xxxx", url=f"rtmp://127.0.0.1:{port}/yt")
    return store


async def measure(engine: AsyncEngine, show: Any, targets: int, seconds: float, port: int) -> dict[str, float]:
    hub = Hub(reconnect_grace=0)
    store = await store_with_targets(engine, targets, port)
    supervisor = RelaySupervisor(hub, store, connect=timed_connect)
    supervisor.attach()
    feeder = asyncio.create_task(feed(hub, *show))
    await asyncio.sleep(3)  # connect and settle; the GOP cache burst is not measured
    LATENCIES.clear()
    sent0 = sum(supervisor.status(i)["bytes"] for i in range(1, 10_000) if supervisor.runner(i))
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    live = [supervisor.runner(i) for i in range(1, 10_000) if supervisor.runner(i)]
    sent = sum(r.bytes_sent for r in live if r) - sent0
    drops = sum(r.drops for r in live if r)
    feeder.cancel()
    await asyncio.gather(feeder, return_exceptions=True)
    hub.stop(SLUG)
    await supervisor.close()
    lat = sorted(LATENCIES) or [0.0]
    return {"targets": targets, "cpu_pct": 100 * cpu / wall, "mbps_per_target": sent * 8 / wall / 1e6 / max(1, targets),
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))],
            "drops": drops, "live": sum(1 for r in live if r and r.state.value == "live")}


def reference(path: Path, port: int, seconds: float) -> float:
    proc = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(path), "-c", "copy",
                             "-f", "flv", f"rtmp://127.0.0.1:{port}/yt/reference"])
    time.sleep(3)
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    pct = 100 * (cpu() - c0) / (time.monotonic() - t0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    return pct


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bitrate", default="6M")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        show_path = work / "show.flv"
        make_show(show_path, args.bitrate)
        show = load(show_path)
        port = free_port()
        nginx = start_nginx(work, port)
        url = f"sqlite:///{work / 'bench.sqlite3'}"
        engine = make_engine(url)
        await migrate(engine, url)
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO users (id, username, password_hash, created_at) "
                                       "VALUES (1, 'bench', 'x', 0)"))
            await conn.execute(sa.text("INSERT INTO rooms (id, slug, title, owner_id, stream_key_hash, created_at) "
                                       f"VALUES (1, '{SLUG}', 'bench', 1, 'h', 0)"))
        try:
            base = await measure(engine, show, 0, args.seconds, port)
            print(f"feeding the hub alone: {base['cpu_pct']:.2f}% of a core")
            print("| targets | process CPU | CPU per target | Mbit/s per target | hub->socket p50 | p99 | drops |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for n in (int(x) for x in args.targets.split(",")):
                r = await measure(engine, show, n, args.seconds, port)
                per = (r["cpu_pct"] - base["cpu_pct"]) / n
                print(f"| {n} | {r['cpu_pct']:.2f}% | {per:.2f}% | {r['mbps_per_target']:.2f} | "
                      f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {int(r['drops'])} |", flush=True)
            print(f"reference, ffmpeg -re -c copy to the same nginx: {reference(show_path, port, args.seconds):.2f}% of a core")
        finally:
            await engine.dispose()
            nginx.send_signal(signal.SIGTERM)
            nginx.wait(10)


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
