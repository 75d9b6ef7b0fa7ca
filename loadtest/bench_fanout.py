"""The room fan-out benchmark in one command: ``python -m loadtest.bench_fanout``.

Runs the same scenarios against a fresh ``notalabel serve`` and a fresh Node ``ws``
reference (installed from npm into ``loadtest/node_ref`` on first use), one after the
other, each server started anew so idle memory is measured from a clean process. Prints
each report and a Markdown table for BENCHMARKS.md; ``--out DIR`` keeps the JSON reports.

Scenarios (``--sockets`` fans in one room, 4 probes; chatters send every 1.6 s):

* ``steady``: ``--steady-chatters`` chatters, a rate both servers should sustain;
* ``goal``: 80 chatters = 50 messages/s, i.e. 500,000 deliveries/s at 10,000 sockets.

``--nodes 2 --redis URL`` is the cross-node comparison: two ``notalabel serve`` nodes on one
Redis against two nodes of the Socket.IO reference (``loadtest/sio_ref``: Socket.IO with its
Redis adapter, installed from npm on first use) on the same Redis, the sockets spread over
both nodes, same room, same sinks; it prints the two ratios the goal names (deliveries per
CPU-second, and p99).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from loadtest import fanout


def scenario_args(target: str, sockets: int, chatters: int, duration: float, label: str,
                  extra: list[str], nodes: int = 1, redis: str = "") -> argparse.Namespace:
    if target == "node":
        start = ["--start-node"]
    elif target == "socketio":
        start = ["--start-socketio", str(nodes)]
    else:
        start = ["--start-server", str(nodes)]
    if nodes > 1:
        start += ["--redis", redis]
    argv = [*start, "--sinks", str(max(0, sockets - chatters - 4)), "--probes", "4", "--chatters", str(chatters),
            "--duration", str(duration), "--warmup", "3", "--label", label, *extra]
    return fanout.build_parser().parse_args(argv)


def row(r: fanout.Report) -> str:
    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.0f}" if v >= 10 else f"{v:.1f}"

    return (f"| {r.label} | {r.sockets_connected:,} | {r.messages_per_s:.1f} | {r.deliveries_per_s:,.0f} |"
            f" {ms(r.latency_ms_p50)} | {ms(r.latency_ms_p99)} | {r.server_cpu_util:.0%} | {r.server_cpu_wait_util:.0%} |"
            f" {r.deliveries_per_server_cpu_s:,.0f} | {r.server_rss_mb:.0f} | {r.idle_bytes_per_socket / 1024:.1f} |"
            f" {r.slow_consumer_closes} / {r.sockets_closed} | {r.generator_cpu_util:.0%} |"
            f" {r.interrupt_cpu_util:.0%} | {r.other_cpu_util:.0%} |")


HEADER = ("| run | sockets | msg/s | deliveries/s | p50 ms | p99 ms | server CPU | server waited for CPU | deliveries per CPU-s |"
          " RSS MB | idle KiB/socket | slow closes / all closes | generator CPU | kernel irq CPU | other CPU |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.bench_fanout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=10_000)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--steady-chatters", type=int, default=16, help="10 messages/s at 1.6 s each")
    p.add_argument("--goal-chatters", type=int, default=80, help="50 messages/s at 1.6 s each")
    p.add_argument("--only", choices=["node", "socketio", "ours"], default=None)
    p.add_argument("--nodes", type=int, default=1,
                   help="2: two of ours on --redis against two Socket.IO nodes on it (default 1: against Node ws)")
    p.add_argument("--redis", default="", help="Redis URL for --nodes 2")
    p.add_argument("--scenario", choices=["steady", "goal"], action="append", default=[])
    p.add_argument("--out", default="", help="directory for the JSON reports")
    a, extra = p.parse_known_args(argv)
    if a.nodes > 1 and not a.redis:
        p.error("--nodes 2 needs --redis URL")
    reference = "socketio" if a.nodes > 1 else "node"
    targets = [a.only] if a.only else [reference, "ours"]
    names = {"node": "node-ws", "socketio": f"socketio x{a.nodes}", "ours": "notalabel" + (f" x{a.nodes}" if a.nodes > 1 else "")}
    scenarios = a.scenario or ["steady", "goal"]
    reports: list[fanout.Report] = []
    for scenario in scenarios:
        chatters = a.steady_chatters if scenario == "steady" else a.goal_chatters
        for target in targets:
            label = f"{names[target]} {scenario}"
            print(f"== {label}: {a.sockets} sockets, {chatters} chatters", file=sys.stderr, flush=True)
            report = fanout.run(scenario_args(target, a.sockets, chatters, a.duration, label, extra, a.nodes, a.redis))
            print(report.text(), flush=True)
            reports.append(report)
            if a.out:
                Path(a.out).mkdir(parents=True, exist_ok=True)
                name = label.replace(" ", "-") + ".json"
                (Path(a.out) / name).write_text(json.dumps(asdict(report), indent=2) + "\n")
    print("\n" + HEADER)
    for r in reports:
        print(row(r))
    print()
    for scenario in scenarios:
        ours = next((r for r in reports if r.label == f"{names['ours']} {scenario}"), None)
        ref = next((r for r in reports if r.label == f"{names[reference]} {scenario}"), None)
        if ours is None or ref is None or not ref.deliveries_per_server_cpu_s:
            continue
        p99 = (f"p99 {ours.latency_ms_p99:.0f} ms against {ref.latency_ms_p99:.0f} ms"
               if ours.latency_ms_p99 is not None and ref.latency_ms_p99 is not None else "p99 n/a")
        print(f"{scenario}: deliveries per CPU-second {ours.deliveries_per_server_cpu_s / ref.deliveries_per_server_cpu_s:.2f}x "
              f"{names[reference]}'s; {p99}; idle memory per socket "
              f"{ours.idle_bytes_per_socket / 1024:.1f} KiB against {ref.idle_bytes_per_socket / 1024:.1f} KiB")
    print(f"\nmachine: {os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
