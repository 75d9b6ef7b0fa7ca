"""Room fan-out load generator: ``python -m loadtest.fanout --help``.

One room, three kinds of socket, spread round-robin over one or more server URLs:

* sinks (``--sinks``): drain and count, in worker processes (``drain.py``), cheaply;
* chatters (``--chatters``): signed-in accounts that send ``chat.send`` every
  ``--chat-interval`` seconds (1.6 s keeps a fan under the 20-per-30-s limit) with their
  send time in the text; they drain like sinks;
* probes (``--probes``): parse every event in this process and time publish-to-deliver.
  Half connect before the sinks and half after, so they sit at both ends of the room.

Phases: set up accounts and the room over HTTP; sample the server's RSS; connect everyone
and let it settle (idle memory per socket = RSS growth / sockets); start chat; warm up;
measure for ``--duration`` seconds; stop. The report covers the measured window only.
``--start-server [N]`` and ``--start-node`` start what is measured, so one command runs
the whole benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import sys
import time
import uuid
from collections import Counter as Tally
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from loadtest import procstat, servers
from loadtest.drain import N_COUNTERS, ConnSpec, Counter, WorkerPlan, worker_main
from loadtest.probe import Probe, open_probe, percentile

PASSWORD = "loadtest-password"


# --- options ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.fanout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", action="append", default=[],
                   help="server base URL; repeat or comma-separate for several nodes (default http://127.0.0.1:8080)")
    p.add_argument("--start-server", type=int, nargs="?", const=1, default=0, metavar="N",
                   help="start N `notalabel serve` nodes on free ports (N > 1 needs --redis)")
    p.add_argument("--start-node", action="store_true", help="start the Node `ws` reference instead")
    p.add_argument("--start-socketio", type=int, nargs="?", const=1, default=0, metavar="N",
                   help="start N Socket.IO reference nodes instead (N > 1 share rooms through --redis "
                        "with Socket.IO's Redis adapter); the sockets speak Socket.IO")
    p.add_argument("--redis", default="", help="Redis URL for the nodes --start-server starts")
    p.add_argument("--database", default="", help="database URL for started nodes (default: a shared SQLite file)")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for started nodes, e.g. --server-arg=--ws-flush-ms=40 (repeatable)")
    p.add_argument("--server-pid", type=int, action="append", default=[],
                   help="server process(es) to measure (default: found by the URLs' ports)")
    p.add_argument("--sinks", type=int, default=100)
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--chatters", type=int, default=10)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of chat before measuring")
    p.add_argument("--settle", type=float, default=2.0, help="idle seconds after connecting, before the RSS sample")
    p.add_argument("--room", default="", help="room slug (default: create one)")
    p.add_argument("--chat-interval", type=float, default=1.6, help="seconds between one chatter's messages")
    p.add_argument("--text-bytes", type=int, default=64, help="length of each chat text")
    p.add_argument("--workers", type=int, default=0, help="sink processes (default: 1, or 2 from 2,000 sockets)")
    p.add_argument("--read-interval", type=float, default=0.2, help="seconds between a sink's reads")
    p.add_argument("--nice", type=int, default=0,
                   help="scheduling niceness for the server(s) and the generator (negative needs root):"
                        " on a machine shared with other work, -10 keeps the measurement about them")
    p.add_argument("--sink-nice", type=int, default=0,
                   help="niceness added to the sink processes (sinks and chatters; the probes stay in this"
                        " process), e.g. 19: the fans' own machines, not the server's, would carry them;"
                        " the report says it")
    p.add_argument("--label", default="", help="name for this run in the report")
    p.add_argument("--json", default="", help="also write the report as JSON to this file")
    return p


def parse_urls(values: list[str]) -> list[str]:
    urls = [u.strip().rstrip("/") for v in values for u in v.split(",") if u.strip()]
    return urls or ["http://127.0.0.1:8080"]


def raise_nofile(want: int) -> int:
    """Lift the soft open-files limit toward ``want`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


# --- setup over HTTP ------------------------------------------------------------------------


async def account_token(http: aiohttp.ClientSession, url: str, username: str) -> str:
    creds = {"username": username, "password": PASSWORD}
    async with http.post(url + "/api/accounts", json=creds) as r:
        if r.status not in (201, 409):
            raise RuntimeError(f"POST /api/accounts: {r.status} {await r.text()}")
    async with http.post(url + "/api/sessions", json=creds) as r:
        if r.status != 200:
            raise RuntimeError(f"POST /api/sessions: {r.status} {await r.text()}")
        token: str = (await r.json())["token"]
    http.cookie_jar.clear()
    return token


async def create_room(http: aiohttp.ClientSession, url: str, token: str) -> str:
    async with http.post(url + "/api/rooms", json={"title": "Fan-out load test"},
                         headers={"Authorization": f"Bearer {token}"}) as r:
        if r.status != 201:
            raise RuntimeError(f"POST /api/rooms: {r.status} {await r.text()}")
        slug: str = (await r.json())["slug"]
        return slug


async def setup(urls: list[str], chatters: int, room: str) -> tuple[str, list[str]]:
    """Create (or reuse) the room and the chatters' accounts; return the slug and tokens."""
    run = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:
        if not room:
            room = await create_room(http, urls[0], await account_token(http, urls[0], f"lt{run}owner"))
        gate = asyncio.Semaphore(4)  # password hashing is the server's slowest request

        async def one(i: int) -> str:
            async with gate:
                return await account_token(http, urls[i % len(urls)], f"lt{run}c{i}")

        tokens = await asyncio.gather(*(one(i) for i in range(chatters)))
    return room, list(tokens)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Report:
    label: str
    urls: list[str]
    room: str
    sinks: int
    probes: int
    chatters: int
    sockets_connected: int = 0
    connect_failures: int = 0
    window_s: float = 0.0
    messages_per_s: float = 0.0
    deliveries_per_s: float = 0.0
    expected_deliveries_per_s: float = 0.0
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None
    latency_samples: int = 0
    to_publish_ms_p50: float | None = None
    """Chatter's send to the server's publish (the event's ``ts``; wall clocks, same machine)."""
    to_publish_ms_p99: float | None = None
    seq_gaps: int = 0
    chat_sent: int = 0
    acks: int = 0
    errors: int = 0
    sockets_closed: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    slow_consumer_closes: int = 0
    server_cpu_s: float = 0.0
    server_cpu_util: float = 0.0
    server_rss_mb: float = 0.0
    server_cpu_wait_util: float = 0.0
    """Share of the window the server was runnable but waited for a CPU (a busy machine)."""
    deliveries_per_server_cpu_s: float = 0.0
    idle_bytes_per_socket: float = 0.0
    generator_cpu_s: float = 0.0
    generator_cpu_util: float = 0.0
    interrupt_cpu_util: float = 0.0
    """Cores busy in irq/softirq during the window: mostly loopback TCP, charged to no process."""
    other_cpu_util: float = 0.0
    """Cores kept busy by every other process during the window (a busy machine skews speed)."""
    connect_errors: dict[str, int] = field(default_factory=dict)
    sink_nice: int = 0
    """Niceness added to the sink processes (``--sink-nice``)."""

    def text(self) -> str:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1f} ms"

        codes = ", ".join(f"{k}x{v}" for k, v in sorted(self.close_codes.items())) or "none"
        return "\n".join([
            f"fan-out {self.label or ''} room={self.room} urls={','.join(self.urls)}",
            f"  sockets: {self.sockets_connected} connected ({self.sinks} sinks, {self.probes} probes,"
            f" {self.chatters} chatters), {self.connect_failures} failed",
            f"  window: {self.window_s:.1f} s   messages/s: {self.messages_per_s:,.1f}"
            f"   chat sent {self.chat_sent}, acked {self.acks}, errors {self.errors}",
            f"  deliveries/s: {self.deliveries_per_s:,.0f} (expected {self.expected_deliveries_per_s:,.0f})",
            f"  latency publish->deliver: p50 {ms(self.latency_ms_p50)}, p99 {ms(self.latency_ms_p99)},"
            f" max {ms(self.latency_ms_max)} ({self.latency_samples} samples), seq gaps {self.seq_gaps}",
            f"    of which send->publish (event ts): p50 {ms(self.to_publish_ms_p50)}, p99 {ms(self.to_publish_ms_p99)}",
            f"  closes: {self.sockets_closed} ({codes}); slow-consumer closes {self.slow_consumer_closes}",
            f"  server: {self.server_cpu_s:.2f} CPU-s ({self.server_cpu_util:.0%} of a core), RSS {self.server_rss_mb:.0f} MB,"
            f" {self.deliveries_per_server_cpu_s:,.0f} deliveries per CPU-second;"
            f" waited for a CPU {self.server_cpu_wait_util:.0%} of the time",
            f"  idle memory: {self.idle_bytes_per_socket / 1024:.1f} KiB per socket",
            f"  generator: {self.generator_cpu_s:.2f} CPU-s ({self.generator_cpu_util:.0%} of a core);"
            f" kernel interrupts (loopback TCP) {self.interrupt_cpu_util:.0%};"
            f" other processes {self.other_cpu_util:.0%} of a core"
            + (f"; sink processes at niceness +{self.sink_nice}" if self.sink_nice else ""),
        ])


SLOW_CONSUMER_CODES = frozenset({1008, 1013, 4000, 4008, 4029})
"""Close codes a server may use for a slow consumer; the report lists every code it saw."""


class Run:
    def __init__(self, args: argparse.Namespace, urls: list[str], server_pids: list[int]) -> None:
        self.args = args
        self.urls = urls
        self.server_pids = server_pids
        self.ctx = mp.get_context("spawn")
        self.probes: list[Probe] = []
        self.workers: list[Any] = []
        self.counters: list[Any] = []
        self.go = self.ctx.Event()
        self.stop = self.ctx.Event()
        self.go_at = self.ctx.Value("d", 0.0, lock=False)
        self.results = self.ctx.Queue()

    # --- connections ---------------------------------------------------------------------

    def target(self, room: str, token: str | None) -> str:
        if self.args.start_socketio:
            return f"/socket.io/?EIO=4&transport=websocket&room={room}" + (f"&token={token}" if token else "")
        return f"/ws/rooms/{room}" + (f"?token={token}" if token else "")

    def plans(self, room: str, tokens: list[str]) -> list[WorkerPlan]:
        a = self.args
        specs: list[ConnSpec] = []
        for i in range(a.sinks + a.chatters):
            parts = urlsplit(self.urls[i % len(self.urls)])
            chatter = i - a.sinks
            token = tokens[chatter] if chatter >= 0 else None
            specs.append(ConnSpec(parts.hostname or "127.0.0.1", parts.port or 80, self.target(room, token),
                                  chatter if chatter >= 0 else -1, bool(a.start_socketio)))
        workers = a.workers or (2 if len(specs) >= 2000 else 1)
        return [WorkerPlan(tuple(specs[w::workers]), a.chat_interval, a.read_interval, a.text_bytes)
                for w in range(workers)]

    async def open_probes(self, room: str, first: int, count: int) -> None:
        for i in range(first, first + count):
            parts = urlsplit(self.urls[i % len(self.urls)])
            self.probes.append(await open_probe(parts.hostname or "127.0.0.1", parts.port or 80,
                                                self.target(room, None), socketio=bool(self.args.start_socketio)))

    def start_workers(self, plans: list[WorkerPlan]) -> None:
        for plan in plans:
            counters = self.ctx.RawArray("q", N_COUNTERS)
            proc = self.ctx.Process(target=worker_main, args=(plan, counters, self.go, self.go_at, self.stop, self.results),
                                    daemon=True)
            proc.start()
            if self.args.sink_nice and proc.pid is not None:
                os.setpriority(os.PRIO_PROCESS, proc.pid,
                               os.getpriority(os.PRIO_PROCESS, proc.pid) + self.args.sink_nice)
            self.workers.append(proc)
            self.counters.append(counters)

    def total(self, slot: Counter) -> int:
        return sum(int(c[slot]) for c in self.counters)

    async def wait_connected(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.total(Counter.CONNECTED) + self.total(Counter.FAILED) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.total(Counter.CONNECTED)} of {expected} sockets connected in {timeout:.0f}s")
            if not any(w.is_alive() for w in self.workers):
                raise RuntimeError("the sink workers died")
            await asyncio.sleep(0.2)

    # --- measuring ---------------------------------------------------------------------------

    def generator_cpu(self) -> float:
        own = os.times()
        total = own.user + own.system
        for w in self.workers:
            with contextlib.suppress(OSError):
                total += procstat.cpu_seconds(w.pid)
        return total

    def deliveries(self) -> int:
        return self.total(Counter.CHAT_EVENTS) + sum(p.chat_events for p in self.probes)

    async def execute(self) -> Report:
        a = self.args
        room, tokens = await setup(self.urls, a.chatters, a.room)
        report = Report(a.label, self.urls, room, a.sinks, a.probes, a.chatters, sink_nice=a.sink_nice)
        await asyncio.sleep(0.5)
        baseline = procstat.sample(self.server_pids)
        await self.open_probes(room, 0, a.probes // 2)
        self.start_workers(self.plans(room, tokens))
        await self.wait_connected(a.sinks + a.chatters, timeout=60 + (a.sinks + a.chatters) / 200)
        await self.open_probes(room, a.probes // 2, a.probes - a.probes // 2)
        report.connect_failures = self.total(Counter.FAILED)
        report.sockets_connected = self.total(Counter.CONNECTED) + len(self.probes)
        await asyncio.sleep(a.settle)
        idle = procstat.sample(self.server_pids)
        report.idle_bytes_per_socket = max(0, idle.rss - baseline.rss) / max(1, report.sockets_connected)

        self.go_at.value = time.monotonic() + 0.1
        self.go.set()
        await asyncio.sleep(a.warmup)
        await self.measure(report)
        self.stop.set()
        await asyncio.sleep(0.3)
        self.finish(report)
        return report

    async def measure(self, report: Report) -> None:
        t0, d0 = time.monotonic(), self.deliveries()
        s0, g0, m0 = procstat.sample(self.server_pids), self.generator_cpu(), procstat.machine_busy_seconds()
        sent0, acks0, probe0 = self.total(Counter.SENT), self.total(Counter.ACKS), self.probes[0].chat_events if self.probes else 0
        for p in self.probes:
            p.recording = True
        await self.progress(t0, d0, s0.cpu_s, acks0)
        for p in self.probes:
            p.recording = False
        t1, d1 = time.monotonic(), self.deliveries()
        s1, g1, m1 = procstat.sample(self.server_pids), self.generator_cpu(), procstat.machine_busy_seconds()
        window = t1 - t0
        report.window_s = window
        report.deliveries_per_s = (d1 - d0) / window
        report.chat_sent = self.total(Counter.SENT) - sent0
        report.acks = self.total(Counter.ACKS) - acks0
        report.errors = self.total(Counter.ERRORS)
        seen = (self.probes[0].chat_events - probe0) if self.probes else report.acks
        report.messages_per_s = seen / window
        report.expected_deliveries_per_s = report.messages_per_s * report.sockets_connected
        report.server_cpu_s = s1.cpu_s - s0.cpu_s
        report.server_cpu_util = report.server_cpu_s / window
        report.server_rss_mb = s1.rss / 2**20
        report.server_cpu_wait_util = (s1.wait_s - s0.wait_s) / window
        report.deliveries_per_server_cpu_s = (d1 - d0) / report.server_cpu_s if report.server_cpu_s else 0.0
        report.generator_cpu_s = g1 - g0
        report.generator_cpu_util = report.generator_cpu_s / window
        busy, interrupts = m1[0] - m0[0], m1[1] - m0[1]
        report.interrupt_cpu_util = interrupts / window
        report.other_cpu_util = max(0.0, busy - interrupts - report.server_cpu_s - report.generator_cpu_s) / window
        samples = sorted(s for p in self.probes for s in p.samples_ns)
        report.latency_samples = len(samples)
        for name, q in (("latency_ms_p50", 50.0), ("latency_ms_p99", 99.0), ("latency_ms_max", 100.0)):
            v = percentile(samples, q)
            setattr(report, name, None if v is None else v / 1e6)
        to_publish = sorted(round(s * 1e6) for p in self.probes for s in p.to_server_s)
        for name, q in (("to_publish_ms_p50", 50.0), ("to_publish_ms_p99", 99.0)):
            v = percentile(to_publish, q)
            setattr(report, name, None if v is None else v / 1e3)

    async def progress(self, t0: float, d0: int, cpu0: float, acks0: int) -> None:
        """Print one line a second while the window runs (to stderr)."""
        last = (t0, d0, cpu0, acks0)
        end = t0 + self.args.duration
        while (now := time.monotonic()) < end - 0.05:
            await asyncio.sleep(min(1.0, end - now))
            t, d = time.monotonic(), self.deliveries()
            cpu, acks = procstat.sample(self.server_pids).cpu_s, self.total(Counter.ACKS)
            dt = t - last[0]
            print(f"  t={t - t0:5.1f}s deliveries/s {(d - last[1]) / dt:>10,.0f}   acks/s {(acks - last[3]) / dt:6.1f}"
                  f"   server CPU {(cpu - last[2]) / dt:4.0%}   closed {self.total(Counter.CLOSED)}",
                  file=sys.stderr, flush=True)
            last = (t, d, cpu, acks)

    def finish(self, report: Report) -> None:
        codes: Tally[int] = Tally()
        for _ in self.workers:
            try:
                result = self.results.get(timeout=15)
            except Exception:  # noqa: BLE001 - a worker that died reports nothing
                continue
            codes.update({int(k): v for k, v in result["close_codes"].items()})
            report.connect_errors.update(result["connect_errors"])
        for w in self.workers:
            w.join(10)
            if w.is_alive():
                w.kill()
        for p in self.probes:
            if p.close_code is not None:
                codes[p.close_code] += 1
            p._abort()
        report.seq_gaps = sum(p.gaps for p in self.probes)
        report.sockets_closed = sum(codes.values())
        report.close_codes = {str(k): v for k, v in codes.items()}
        report.slow_consumer_closes = sum(v for k, v in codes.items() if k in SLOW_CONSUMER_CODES)


def find_server_pids(urls: list[str]) -> list[int]:
    pids = []
    for url in urls:
        port = urlsplit(url).port or 80
        pid = procstat.pid_listening_on(port)
        if pid is None:
            raise SystemExit(f"no process listens on port {port}; pass --server-pid")
        pids.append(pid)
    return pids


def run(args: argparse.Namespace) -> Report:
    total = args.sinks + args.chatters + args.probes
    raise_nofile(total + 1024)  # children (servers we start, workers) inherit it
    started: list[servers.Started] = []
    try:
        if args.start_node:
            started = [servers.start_node_reference()]
        elif args.start_socketio:
            started = servers.start_socketio_reference(args.start_socketio, redis=args.redis)
        elif args.start_server:
            started = servers.start_ours(args.start_server, redis=args.redis, database=args.database,
                                         extra=args.server_arg)
        urls = [s.url for s in started] or parse_urls(args.url)
        pids = args.server_pid or ([s.pid for s in started] or find_server_pids(urls))
        if args.nice:
            for pid in [*pids, 0]:  # 0: this process; the sink workers inherit it
                os.setpriority(os.PRIO_PROCESS, pid, args.nice)
        try:
            import uvloop
            report = uvloop.run(Run(args, urls, pids).execute())
        except ImportError:  # pragma: no cover - uvloop is a dependency
            report = asyncio.run(Run(args, urls, pids).execute())
    finally:
        for s in started:
            s.stop()
    if not report.label:
        report.label = "node-ws" if args.start_node else "socketio" if args.start_socketio else "notalabel"
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = run(args)
    print(report.text())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
