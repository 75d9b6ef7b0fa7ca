"""Set up the server, the publisher and the probes; run the phases; build the report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.abuse.attacks import ATTACKS, Ctx, ffmpeg_publish, run_in_process
from loadtest.abuse.net import (
    PROBE_ADDRESS,
    attacker_address,
    bearer,
    client,
    metric_growth,
    percentile,
    read_metrics,
    refused,
)
from loadtest.abuse.probes import ChatProbe, HealthProbe, Phases, PublisherWatch, wait_live
from loadtest.loopwatch import read_holds
from loadtest.procstat import cpu_seconds
from loadtest.servers import Started, free_port, wait_ready

PASSWORD = "abuse load password"
SERVER_FLAGS = [
    "--webrtc-host-addresses", "127.0.0.1",  # WebRTC candidates on loopback only
    "--webrtc-max-viewers", "60",            # a viewer pool the bounded WHEP flood can fill
]
"""What the benchmark changes from the defaults; everything else (every per-address limit) is
as shipped: attackers come from their own loopback addresses, the probe from 127.0.0.1."""


@dataclass
class PhaseReport:
    name: str
    seconds: float
    load_avg_1m: float
    chat_p50_ms: float | None = None
    chat_p99_ms: float | None = None
    chat_samples: int = 0
    chat_lost: int = 0
    chat_errors: dict[str, int] = field(default_factory=dict)
    health_p50_ms: float | None = None
    health_p99_ms: float | None = None
    health_samples: int = 0
    health_failures: int = 0
    chat_delta_ms: float | None = None
    health_delta_ms: float | None = None
    publisher_kept: bool = True
    publisher_detail: str = ""
    requests: int = 0
    refused: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    error: str = ""
    started_at: float = 0.0
    ended_at: float = 0.0
    holds: dict[str, Any] = field(default_factory=dict)
    server_cpu_ms: float = 0.0
    loop_cpu_ms: float = 0.0
    loop_wait_ms: float = 0.0

    def goals(self, goal_ms: float) -> dict[str, bool]:
        return {"chat": self.chat_delta_ms is not None and self.chat_delta_ms <= goal_ms,
                "healthz": self.health_delta_ms is not None and self.health_delta_ms <= goal_ms,
                "publisher": self.publisher_kept, "checks": all(self.checks.values()) and not self.error}


@dataclass
class Report:
    command: str
    server_flags: list[str]
    seconds: float
    probe_fans: int
    goal_ms: float
    load_avg_start: tuple[float, float, float]
    load_avg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    nice: int = 0
    loop_watch_ms: float = 0.0
    cpus: int = os.cpu_count() or 0
    phases: list[PhaseReport] = field(default_factory=list)

    def table(self) -> str:
        rows = ["| phase | chat p99 ms (Δ idle) | /healthz p99 ms (Δ idle) | publisher | attack requests | refused: how |"
                f" checks | goal (≤ {self.goal_ms:g} ms, kept) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in self.phases:
            rows.append("| " + " | ".join([
                p.name, _ms(p.chat_p99_ms, p.chat_delta_ms, p.chat_samples, p.chat_lost, p.chat_p50_ms),
                _ms(p.health_p99_ms, p.health_delta_ms, p.health_samples, p.health_failures, p.health_p50_ms),
                "kept" if p.publisher_kept else f"**DROPPED** ({p.publisher_detail})",
                str(p.requests), _how(p), _checks(p), _goal(p, self.goal_ms)]) + " |")
        return "\n".join(rows)

    def cost_table(self) -> str:
        """The server's own cost per phase: CPU, the loop thread's wait for a CPU, loop holds."""
        watch = (f" loop holds ≥ {self.loop_watch_ms:g} ms: n, max wall / max CPU |"
                 " full garbage collections: n, max wall / max CPU |") if self.loop_watch_ms else ""
        rows = ["| phase | server CPU ms | loop thread CPU ms | loop thread waited for a CPU ms |" + watch,
                "| --- | --- | --- | --- |" + (" --- | --- |" if watch else "")]
        for p in self.phases:
            cells = [p.name, f"{p.server_cpu_ms:.0f}", f"{p.loop_cpu_ms:.0f}", f"{p.loop_wait_ms:.0f}"]
            if watch:
                h = p.holds
                cells.append(f"{h.get('count', 0)}, {h.get('wall_max_ms', 0):.0f} / {h.get('cpu_max_ms', 0):.0f}")
                cells.append(f"{h.get('gc_full', 0)}, {h.get('gc_full_wall_max_ms', 0):.0f}"
                             f" / {h.get('gc_full_cpu_max_ms', 0):.0f}")
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def text(self) -> str:
        la0, la1 = self.load_avg_start, self.load_avg_end
        metrics = [f"- {p.name}: " + (", ".join(f"{k} +{v}" for k, v in p.metrics.items()) or "no counter grew")
                   for p in self.phases]
        return "\n".join([
            f"command: {self.command}",
            f"server flags besides the defaults: {' '.join(self.server_flags)}",
            f"machine: {self.cpus} CPUs, load average {la0[0]:.2f} {la0[1]:.2f} {la0[2]:.2f} at the start,"
            f" {la1[0]:.2f} {la1[1]:.2f} {la1[2]:.2f} at the end",
            f"{self.probe_fans} probe fans, {self.seconds:g} s per phase"
            + (f", server and load generator at nice {self.nice}" if self.nice else ""), "",
            self.table(), "", "The server's own cost in each phase:", "", self.cost_table(), "",
            "/metrics counters that grew in each phase:", *metrics,
            *self.holds_text(),
        ])

    def holds_text(self) -> list[str]:
        if not self.loop_watch_ms:
            return []
        lines = ["", f"Event loop held {self.loop_watch_ms:g} ms or more (loadtest.loopwatch; wall / loop-thread CPU):"]
        for p in self.phases:
            h = p.holds
            lines.append(f"- {p.name}: {h.get('count', 0)} holds, wall sum {h.get('wall_sum_ms', 0):.0f} ms,"
                         f" max {h.get('wall_max_ms', 0):.0f} ms; CPU sum {h.get('cpu_sum_ms', 0):.0f} ms,"
                         f" max {h.get('cpu_max_ms', 0):.0f} ms; {h.get('gc_full', 0)} full garbage collections,"
                         f" max {h.get('gc_full_wall_max_ms', 0):.0f} ms wall / {h.get('gc_full_cpu_max_ms', 0):.0f} ms CPU")
            if largest := h.get("gc_full_largest"):
                lines.append(f"    largest full collection: {largest.get('objects', 0)} objects, {largest['cpu_ms']:.0f} ms CPU;"
                             f" most: {', '.join(f'{t} {n}' for t, n in largest.get('types', []))}")
            for what in h.get("top", []):
                lines.append(f"    {what['n']}x wall {what['wall_ms']:.0f} cpu {what['cpu_ms']:.0f} ms: {what['what']}")
                lines.extend(f"        {s}" for s in what["stacks"])
        return lines


def _ms(p99: float | None, delta: float | None, n: int, bad: int, p50: float | None = None) -> str:
    if p99 is None:
        return "n/a"
    sign = "" if delta is None else f" ({delta:+.0f})"
    median = "" if p50 is None else f", p50 {p50:.0f}"
    return f"{p99:.0f}{sign}{median}, n={n}" + (f", {bad} lost" if bad else "")


def _how(p: PhaseReport) -> str:
    if p.error:
        return f"error: {p.error}"
    top = sorted(p.outcomes.items(), key=lambda kv: -kv[1])[:6]
    return f"{p.refused}: " + ", ".join(f"{k} ×{v}" for k, v in top) if top else "-"


def _checks(p: PhaseReport) -> str:
    return ", ".join(f"{k} {'yes' if v else '**NO**'}" for k, v in p.checks.items()) or "-"


def _goal(p: PhaseReport, goal_ms: float) -> str:
    if p.name == "idle":
        return "(baseline)"
    if p.name == "idle_end":
        return "(drift of the machine)"
    missed = [k for k, ok in p.goals(goal_ms).items() if not ok]
    return "met" if not missed else "**not met**: " + ", ".join(missed)


# --- set-up --------------------------------------------------------------------------------


HOLDS_FILE = "loop-holds.jsonl"
TOP_HOLDS = 6
STACK_FRAMES = 10


def start_server(root: Path, extra: list[str], loop_watch_ms: float = 0.0) -> tuple[Started, int, int]:
    http, rtmp = free_port(), free_port()
    entry = ["server.cli"] if not loop_watch_ms else [
        "loadtest.loopwatch", "--out", str(root / HOLDS_FILE), "--hold-ms", f"{loop_watch_ms:g}", "--"]
    args = [sys.executable, "-m", *entry, "serve", "--http", f"127.0.0.1:{http}",
            "--rtmp", f"127.0.0.1:{rtmp}", "--data-dir", str(root), "--log-level", "warning",
            "--log-format", "text", *SERVER_FLAGS, *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALABEL_")}
    log = root / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    started = Started(f"http://127.0.0.1:{http}", proc, log)
    wait_ready(started, "/readyz")
    return started, http, rtmp


class Accounts:
    """Accounts made for the run, each signed up from an address of its own (sign-up quotas stay on)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.run = uuid.uuid4().hex[:6]
        self.made = 0

    async def make(self, role: str) -> tuple[str, str]:
        """A new account: (username, session token)."""
        name = f"ab{self.run}{role}{self.made}"
        creds = {"username": name, "password": PASSWORD}
        async with client(attacker_address(200 + self.made)) as http:
            self.made += 1
            async with http.post(self.base + "/api/accounts", json=creds) as r:
                if r.status != 201:
                    raise RuntimeError(f"sign-up {name}: {r.status} {await r.text()}")
            async with http.post(self.base + "/api/sessions", json=creds) as r:
                if r.status != 200:
                    raise RuntimeError(f"log-in {name}: {r.status} {await r.text()}")
                return name, str((await r.json())["token"])

    async def room(self, token: str, title: str) -> tuple[str, str]:
        """A room of the token's account: (slug, stream key)."""
        async with client(attacker_address(200 + self.made)) as http, \
                http.post(self.base + "/api/rooms", json={"title": title}, headers=bearer(token)) as r:
            if r.status != 201:
                raise RuntimeError(f"room: {r.status} {await r.text()}")
            body = await r.json()
            return str(body["slug"]), str(body["stream_key"])


async def set_up(base: str, http_port: int, rtmp_port: int, probe_fans: int,
                 attacker_fans: int) -> tuple[Ctx, list[str]]:
    acc = Accounts(base)
    _, probe_owner = await acc.make("po")
    probe_slug, probe_key = await acc.room(probe_owner, "Probe room")
    probe_tokens = [(await acc.make("pf"))[1] for _ in range(probe_fans)]
    _, a_owner = await acc.make("ao")
    a_slug, _ = await acc.room(a_owner, "Attacker's room")
    fans = [(await acc.make("af"))[1] for _ in range(attacker_fans)]
    _, b_owner = await acc.make("bo")
    b_slug, b_key = await acc.room(b_owner, "Rotation room")
    _, c_owner = await acc.make("co")
    c_slug, c_key = await acc.room(c_owner, "WHIP room")
    _, d_owner = await acc.make("do")
    d_slug, d_key = await acc.room(d_owner, "Restream targets and songs")
    victim, _ = await acc.make("vi")
    _, spam = await acc.make("sp")
    ctx: Ctx = {"base": base, "rtmp": f"rtmp://127.0.0.1:{rtmp_port}/live", "http_port": http_port,
                "rtmp_port": rtmp_port, "probe_slug": probe_slug, "probe_key": probe_key,
                "a_slug": a_slug, "a_owner_token": a_owner, "fan_tokens": fans,
                "b_slug": b_slug, "b_key": b_key, "b_owner_token": b_owner, "c_slug": c_slug, "c_key": c_key,
                "d_slug": d_slug, "d_key": d_key, "d_owner_token": d_owner, "victim": victim, "spam_token": spam}
    return ctx, probe_tokens


# --- phases --------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, ctx: Ctx, phases: Phases, chat: ChatProbe, health: HealthProbe,
                 watch: PublisherWatch, server_pid: int = 0) -> None:
        self.args, self.ctx, self.phases = args, ctx, phases
        self.server_pid = server_pid
        self.chat, self.health, self.watch = chat, health, watch
        self.mp = mp.get_context("spawn")

    async def phase(self, name: str) -> PhaseReport:
        seconds = self.args.seconds
        report = PhaseReport(name, seconds, os.getloadavg()[0], started_at=time.time())
        async with client(PROBE_ADDRESS, limit=1) as http:
            before = await read_metrics(http, self.ctx["base"])
            cpu_before = server_cpu(self.server_pid)
            if name.startswith("idle"):
                self.phases.current = name
                await asyncio.sleep(seconds)
                self.phases.current = None
            else:
                self._apply(report, await self._attack(name, seconds))
            cpu_after = server_cpu(self.server_pid)
            report.metrics = metric_growth(before, await read_metrics(http, self.ctx["base"]))
        report.server_cpu_ms, report.loop_cpu_ms, report.loop_wait_ms = (
            round((a - b) * 1000) for a, b in zip(cpu_after, cpu_before, strict=True))
        report.ended_at = time.time()
        self._measure(report)
        return report

    async def _attack(self, name: str, seconds: float) -> dict[str, Any]:
        out = self.mp.Queue()
        proc = self.mp.Process(target=run_in_process, args=(name, self.ctx, seconds, out), daemon=True)
        proc.start()
        self.phases.current = name
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds + 90
            while loop.time() < deadline:
                with contextlib.suppress(Exception):
                    got: dict[str, Any] = await asyncio.to_thread(out.get, True, 0.5)
                    return got
                if not proc.is_alive() and out.empty():
                    return {"ok": False, "error": f"the attack process exited with {proc.exitcode}"}
            return {"ok": False, "error": "the attack did not finish in time"}
        finally:
            self.phases.current = None
            proc.join(10)
            if proc.is_alive():
                proc.kill()

    def _apply(self, report: PhaseReport, got: dict[str, Any]) -> None:
        if not got.get("ok"):
            report.error = str(got.get("error"))
            return
        self.ctx.update(got.get("ctx", {}))
        report.requests = int(got["requests"])
        report.outcomes = dict(got["outcomes"])
        report.refused = refused(report.outcomes)
        report.checks = dict(got["checks"])
        report.notes = str(got.get("notes", ""))

    def _measure(self, report: PhaseReport) -> None:
        chat, health = self.chat.samples.get(report.name, []), self.health.samples.get(report.name, [])
        report.chat_p50_ms, report.chat_p99_ms = percentile(chat, 50), percentile(chat, 99)
        report.chat_samples, report.chat_lost = len(chat), self.chat.lost.get(report.name, 0)
        report.chat_errors = dict(self.chat.errors)
        report.health_p50_ms, report.health_p99_ms = percentile(health, 50), percentile(health, 99)
        report.health_samples, report.health_failures = len(health), self.health.failures.get(report.name, 0)
        seen = self.watch.states.get(report.name)
        if seen is not None:
            report.publisher_kept = not seen.dropped
            report.publisher_detail = ", ".join(
                d for d, bad in (("ffmpeg exited", not seen.ffmpeg_running), ("went offline", not seen.live_all_along),
                                 (f"{len(seen.sessions)} publish sessions", len(seen.sessions) > 1)) if bad)


def renice(pid: int, nice: int) -> None:
    """Every thread of ``pid`` (Linux niceness is per thread: one set on the process id moves
    only its main thread, and the server's database and executor threads already run)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)


def server_cpu(pid: int) -> tuple[float, float, float]:
    """(process CPU s, event loop thread CPU s, loop thread's wait for a CPU s) of the server.

    The loop runs on the process's main thread, whose ``schedstat`` says how long it ran and
    how long it was runnable while another process had the CPU: the share of a phase's
    latency that is the machine's, not ours."""
    if not pid:
        return 0.0, 0.0, 0.0
    try:
        run_ns, wait_ns = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[:2]
        return cpu_seconds(pid), int(run_ns) / 1e9, int(wait_ns) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0


def phase_names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()] if value else list(ATTACKS)
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phases {unknown}; known: {', '.join(ATTACKS)}")
    return names


async def execute(args: argparse.Namespace, base: str, http_port: int, rtmp_port: int, report: Report,
                  server_pid: int = 0) -> None:
    progress("signing up the accounts, making the rooms ...")
    ctx, probe_tokens = await set_up(base, http_port, rtmp_port, args.probe_fans, args.attacker_fans)
    if args.nice:  # the attackers (and the ffmpeg they start) stand in for other machines: not ahead of ours
        ctx["attacker_nice"] = 0
    total = (len(args.phases) + 1) * (args.seconds + args.settle) + 120
    ffmpeg = ffmpeg_publish(f"{ctx['rtmp']}/{ctx['probe_key']}", total)
    phases = Phases()
    chat = ChatProbe(base, ctx["probe_slug"], probe_tokens, phases, args.chat_interval)
    health = HealthProbe(base, phases, args.health_interval)
    watch = PublisherWatch(base, ctx["probe_slug"], ffmpeg, phases)
    try:
        await wait_live(base, ctx["probe_slug"])
        await chat.start()
        health.start()
        watch.start()
        await asyncio.sleep(args.settle)
        runner = Runner(args, ctx, phases, chat, health, watch, server_pid)
        for name in ["idle", *args.phases, "idle_end"]:
            progress(f"phase {name}: {args.seconds:g} s ...")
            phase = await runner.phase(name)
            report.phases.append(phase)
            if name == "idle":
                idle = phase
            else:
                phase.chat_delta_ms = _delta(phase.chat_p99_ms, idle.chat_p99_ms)
                phase.health_delta_ms = _delta(phase.health_p99_ms, idle.health_p99_ms)
            progress(f"  chat p99 {_ms(phase.chat_p99_ms, phase.chat_delta_ms, phase.chat_samples, phase.chat_lost)} ms;"
                     f" /healthz p99 {_ms(phase.health_p99_ms, phase.health_delta_ms, phase.health_samples, phase.health_failures)} ms;"
                     f" publisher {'kept' if phase.publisher_kept else 'DROPPED'}; {phase.requests} requests,"
                     f" {phase.refused} refused{'; ' + phase.error if phase.error else ''}")
            if (failure := chat.failed()) is not None:
                raise RuntimeError(f"a probe fan failed: {failure}")
            await asyncio.sleep(args.settle)
    finally:
        await chat.stop()
        await health.stop()
        await watch.stop()
        if ffmpeg.poll() is None:
            ffmpeg.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                ffmpeg.wait(5)
            if ffmpeg.poll() is None:
                ffmpeg.kill()
                ffmpeg.wait(5)


def summarize_holds(holds: list[dict[str, Any]], began: float, ended: float) -> dict[str, Any]:
    """The loop holds that started in [began, ended): totals, and the costliest kinds with where they were."""
    during = [h for h in holds if began <= h["t"] < ended]
    mine = [h for h in during if "gc" not in h]
    full = [h for h in during if h.get("gc") == 2]
    kinds: dict[str, list[dict[str, Any]]] = {}
    for h in mine:
        kinds.setdefault(h["what"], []).append(h)
    top = []
    for what, group in sorted(kinds.items(), key=lambda kv: -sum(h["wall_ms"] for h in kv[1]))[:TOP_HOLDS]:
        stacks: Counter[str] = Counter()
        for h in group:
            for s in h["stacks"]:
                stacks[" < ".join(s["stack"].split(" < ")[:STACK_FRAMES])] += s["n"]
        top.append({"what": what, "n": len(group), "wall_ms": sum(h["wall_ms"] for h in group),
                    "cpu_ms": sum(h["cpu_ms"] for h in group),
                    "stacks": [f"{n} samples: {s}" for s, n in stacks.most_common(2)]})
    return {"count": len(mine), "wall_sum_ms": sum(h["wall_ms"] for h in mine),
            "wall_max_ms": max((h["wall_ms"] for h in mine), default=0.0),
            "cpu_sum_ms": sum(h["cpu_ms"] for h in mine), "cpu_max_ms": max((h["cpu_ms"] for h in mine), default=0.0),
            "gc_full": len(full), "gc_full_wall_max_ms": max((h["wall_ms"] for h in full), default=0.0),
            "gc_full_cpu_max_ms": max((h["cpu_ms"] for h in full), default=0.0),
            "gc_full_largest": max(full, key=lambda h: h.get("objects", 0), default={}), "top": top}


def _delta(value: float | None, idle: float | None) -> float | None:
    return None if value is None or idle is None else value - idle


def progress(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, command: str) -> Report:
    extra = list(args.server_arg)
    report = Report(command, [*SERVER_FLAGS, *extra], args.seconds, args.probe_fans, args.goal_ms, os.getloadavg(),
                    nice=args.nice, loop_watch_ms=args.loop_watch)
    root = Path(tempfile.mkdtemp(prefix="nal-abuse-"))
    server, http_port, rtmp_port = start_server(root, extra, args.loop_watch)
    if args.nice:  # the server, this process (the probes) and the probe room's ffmpeg; not the attackers
        for pid in (server.pid, os.getpid()):
            renice(pid, args.nice)
    progress(f"server {server.url} (pid {server.pid}), flags besides the defaults: {' '.join(report.server_flags)}")
    try:
        try:
            import uvloop  # noqa: PLC0415

            uvloop.run(execute(args, server.url, http_port, rtmp_port, report, server.pid))
        except ImportError:  # pragma: no cover - uvloop is a dependency
            asyncio.run(execute(args, server.url, http_port, rtmp_port, report, server.pid))
    except BaseException:
        server.stop()
        progress(f"server log tail:\n{server.log_text()[-3000:]}")
        raise
    finally:
        server.stop()
        holds = read_holds(root / HOLDS_FILE)
        for phase in report.phases:
            phase.holds = summarize_holds(holds, phase.started_at, phase.ended_at) if args.loop_watch else {}
        shutil.rmtree(root, ignore_errors=True)
    report.load_avg_end = os.getloadavg()
    return report


def to_json(report: Report) -> dict[str, Any]:
    data = asdict(report)
    for phase, raw in zip(report.phases, data["phases"], strict=True):
        raw["goals"] = phase.goals(report.goal_ms) if not phase.name.startswith("idle") else {}
    return data
