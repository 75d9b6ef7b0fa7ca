"""Paid tips end to end: ``python -m loadtest.tips --help``.

Drives ``--tips`` sandbox tip payments over HTTP against one server, ``--concurrency`` at a
time: create the tip (``POST /api/rooms/{room}/tips``), pay it (``POST
/sandbox/checkout/{session}/pay``, which sends the signed webhook to the server's own
``/webhooks/stripe``, which posts to the ledger and publishes the room's ``tip`` event), and
a probe socket in the room records when each tip arrives. Prints paid tips per second (first
create to last tip seen) and pay-to-room latency (pay request sent to ``tip`` event seen,
so it includes the webhook), p50 and p99, then checks that every tip arrived exactly once
and that the ledger's invariants hold (``notalabel ledger check``). On a shared machine
tips/s says more about the others than the code, so it also reports the server's CPU over
the timed window (found by its listening port, from ``/proc``), tips per server CPU-second,
how long the server waited for a CPU, its own CPU and the load average.

``--start-server`` starts ``notalabel serve`` (with ``--database`` if given), so one
command runs the whole benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import aiohttp

from loadtest import procstat, servers

PASSWORD = "loadtest-password"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.tips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    p.add_argument("--start-server", action="store_true", help="start a `notalabel serve` node on a free port")
    p.add_argument("--database", default="", help="database URL for the started node (default: SQLite)")
    p.add_argument("--tips", type=int, default=2000, help="paid tips to drive")
    p.add_argument("--concurrency", type=int, default=64, help="tips in flight at once")
    p.add_argument("--fans", type=int, default=20, help="fan accounts the tips come from")
    p.add_argument("--json", default="", help="also write the report to this file")
    return p


@dataclass
class Report:
    tips: int
    seconds: float
    tips_per_s: float
    pay_to_room_p50_ms: float
    pay_to_room_p99_ms: float
    duplicates: int
    missing: int
    ledger_check: str
    server_cpu_s: float
    """CPU the server process used while the tips ran (user + system)."""
    server_cpu_ms_per_tip: float
    tips_per_server_cpu_s: float
    """Paid tips per second of server CPU: what one free core would carry, if the server is the limit."""
    server_waited_s: float
    """Time the server was runnable but waited for a CPU (others had both cores)."""
    generator_cpu_s: float
    machine_busy_cores: float
    """Cores kept busy by every process on the box while the tips ran (2 cores here)."""
    load_average: str


async def account(http: aiohttp.ClientSession, base: str, name: str) -> dict[str, str]:
    body = {"username": name, "password": PASSWORD}
    r = await http.post(f"{base}/api/accounts", json=body)
    if r.status != 201:
        raise RuntimeError(f"sign-up failed: {r.status} {await r.text()}")
    token = (await (await http.post(f"{base}/api/sessions", json=body)).json())["token"]
    return {"Authorization": f"Bearer {token}"}


class TipProbe:
    """A room socket that records when each ``tip`` event arrives (and how often)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: dict[str, float] = {}
        self.duplicates = 0
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") == "tip":
                tip_id = frame["data"]["id"]
                if tip_id in self.seen:
                    self.duplicates += 1
                else:
                    self.seen[tip_id] = time.perf_counter()
                self.changed.set()

    async def wait_count(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break


async def one_tip(http: aiohttp.ClientSession, base: str, slug: str, fan: dict[str, str], i: int,
                  paid_at: dict[str, float]) -> None:
    r = await http.post(f"{base}/api/rooms/{slug}/tips", json={"amount": 100 + i % 900, "message": f"tip {i}"},
                        headers=fan)
    if r.status != 201:
        raise RuntimeError(f"tip failed: {r.status} {await r.text()}")
    tip = await r.json()
    path = tip["checkout_url"].split("://", 1)[1].split("/", 1)[1]
    paid_at[tip["tip_id"]] = time.perf_counter()
    r = await http.post(f"{base}/{path}/pay")
    if r.status != 200:
        raise RuntimeError(f"pay failed: {r.status} {await r.text()}")


@dataclass
class Usage:
    """CPU of the server, of this generator and of the whole machine, for a window."""

    server_cpu: float
    server_wait: float
    generator_cpu: float
    machine_busy: float
    wall: float

    @classmethod
    def now(cls, server_pid: int | None) -> Usage:
        me = resource.getrusage(resource.RUSAGE_SELF)
        srv = procstat.sample([server_pid]) if server_pid else procstat.Sample(0.0, 0)
        return cls(srv.cpu_s, srv.wait_s, me.ru_utime + me.ru_stime, procstat.machine_busy_seconds()[0],
                   time.perf_counter())

    def since(self, start: Usage) -> Usage:
        return Usage(self.server_cpu - start.server_cpu, self.server_wait - start.server_wait,
                     self.generator_cpu - start.generator_cpu, self.machine_busy - start.machine_busy,
                     self.wall - start.wall)


def server_pid(base: str) -> int | None:
    port = urlsplit(base).port
    return procstat.pid_listening_on(port) if port else None


async def run(args: argparse.Namespace, base: str, database: str) -> Report:
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        run_id = uuid.uuid4().hex[:6]
        owner = await account(http, base, f"owner{run_id}")
        fans = [await account(http, base, f"fan{run_id}{i}") for i in range(args.fans)]
        r = await http.post(f"{base}/api/rooms", json={"title": "Tip benchmark"}, headers=owner)
        slug = (await r.json())["slug"]
        token = fans[0]["Authorization"].split()[1]
        probe = TipProbe(await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws/rooms/{slug}",
                                               params={"token": token}))
        paid_at: dict[str, float] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.tips):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await one_tip(http, base, slug, fans[i % len(fans)], i, paid_at)

        pid = server_pid(base)
        load0 = os.getloadavg()[0]
        used0 = Usage.now(pid)
        start = used0.wall
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await probe.wait_count(args.tips, timeout=60)
        end = max(probe.seen.values(), default=time.perf_counter())
        used = Usage.now(pid).since(used0)
        load1 = os.getloadavg()[0]
        await probe.ws.close()
        latencies = [(probe.seen[k] - paid_at[k]) * 1000 for k in paid_at if k in probe.seen]
    check = ledger_check(database) if database else "skipped (no --database)"
    seconds = end - start
    paid = len(probe.seen)
    return Report(args.tips, round(seconds, 3), round(paid / seconds, 1),
                  round(percentile(latencies, 50), 1), round(percentile(latencies, 99), 1),
                  probe.duplicates, args.tips - paid, check,
                  server_cpu_s=round(used.server_cpu, 2),
                  server_cpu_ms_per_tip=round(1000 * used.server_cpu / max(paid, 1), 3),
                  tips_per_server_cpu_s=round(paid / used.server_cpu, 1) if used.server_cpu else 0.0,
                  server_waited_s=round(used.server_wait, 2), generator_cpu_s=round(used.generator_cpu, 2),
                  machine_busy_cores=round(used.machine_busy / used.wall, 2),
                  load_average=f"{load0:.1f} -> {load1:.1f}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, -(-len(ordered) * q // 100))) - 1]


def ledger_check(database: str) -> str:
    out = subprocess.run([sys.executable, "-m", "server.cli", "ledger", "check", "--database", database],
                         capture_output=True, text=True, timeout=300)
    return "ok" if out.returncode == 0 else out.stdout.strip()[-500:]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started: list[servers.Started] = []
    database = args.database
    try:
        if args.start_server:
            started = servers.start_ours(1, database=database)
            base = started[0].url
            database = database or f"sqlite:///{started[0].log.parent.parent / 'shared.sqlite3'}"
        else:
            base = args.url.rstrip("/")
        report = asyncio.run(run(args, base, database))
    finally:
        for node in started:
            node.stop()
    text = json.dumps(asdict(report), indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    return 0 if report.missing == 0 and report.duplicates == 0 and report.ledger_check in ("ok", "skipped (no --database)") else 1


if __name__ == "__main__":
    sys.exit(main())
