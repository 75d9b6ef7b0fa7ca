"""The room fan-out benchmark in one command: ``python -m loadtest.bench_fanout``.

Runs the same scenarios against a fresh ``notalabel serve`` and a fresh Node ``ws``
reference (installed from npm into ``loadtest/node_ref`` on first use), one after the
other, each server started anew so idle memory is measured from a clean process. Prints
each report and a Markdown table for BENCHMARKS.md; ``--out DIR`` keeps the JSON reports.

Scenarios (``--sockets`` fans in one room, 4 probes; chatters send every 1.6 s):

* ``steady``: ``--steady-chatters`` chatters, a rate both servers should sustain;
* ``goal``: 80 chatters = 50 messages/s, i.e. 500,000 deliveries/s at 10,000 sockets.
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
                  extra: list[str]) -> argparse.Namespace:
    start = ["--start-node"] if target == "node" else ["--start-server"]
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
    p.add_argument("--only", choices=["node", "ours"], default=None)
    p.add_argument("--scenario", choices=["steady", "goal"], action="append", default=[])
    p.add_argument("--out", default="", help="directory for the JSON reports")
    a, extra = p.parse_known_args(argv)
    targets = [a.only] if a.only else ["node", "ours"]
    scenarios = a.scenario or ["steady", "goal"]
    reports: list[fanout.Report] = []
    for scenario in scenarios:
        chatters = a.steady_chatters if scenario == "steady" else a.goal_chatters
        for target in targets:
            label = f"{'node-ws' if target == 'node' else 'notalabel'} {scenario}"
            print(f"== {label}: {a.sockets} sockets, {chatters} chatters", file=sys.stderr, flush=True)
            report = fanout.run(scenario_args(target, a.sockets, chatters, a.duration, label, extra))
            print(report.text(), flush=True)
            reports.append(report)
            if a.out:
                Path(a.out).mkdir(parents=True, exist_ok=True)
                name = label.replace(" ", "-") + ".json"
                (Path(a.out) / name).write_text(json.dumps(asdict(report), indent=2) + "\n")
    print("\n" + HEADER)
    for r in reports:
        print(row(r))
    print(f"\nmachine: {os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
