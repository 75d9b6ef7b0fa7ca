"""The fan-out generator end to end against a real ``notalabel serve`` process.

A few seconds with a handful of sockets: it must connect everyone, chat under the rate
limit, deliver to every socket and time the deliveries. Behaviour only, never speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_fanout(url: str, out: Path, *extra: str) -> dict[str, Any]:
    args = [sys.executable, "-m", "loadtest.fanout", "--url", url, "--sinks", "6", "--probes", "2",
            "--chatters", "3", "--chat-interval", "0.5", "--duration", "3", "--warmup", "0.5",
            "--settle", "0.2", "--read-interval", "0.05", "--json", str(out), *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_generator_delivers_to_every_socket_and_times_it(server_process: Any, tmp_path: Path) -> None:
    srv = server_process()
    report = run_fanout(srv.url, tmp_path / "report.json")

    assert report["connect_failures"] == 0
    assert report["sockets_connected"] == 6 + 2 + 3
    assert report["acks"] > 0 and report["errors"] == 0  # 2 messages/s per chatter is under the limit
    assert report["messages_per_s"] > 0
    assert report["deliveries_per_s"] > 0
    # every socket in the room gets every message: sinks count what probes parse
    assert report["deliveries_per_s"] > 0.5 * report["expected_deliveries_per_s"]
    assert report["latency_samples"] > 0
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"] <= report["latency_ms_max"]
    assert report["seq_gaps"] == 0
    assert report["server_cpu_s"] >= 0 and report["server_rss_mb"] > 0  # the server process was found
    assert report["slow_consumer_closes"] == 0


def test_server_is_found_by_its_port(server_process: Any, tmp_path: Path) -> None:
    from loadtest import procstat

    srv = server_process()
    assert procstat.pid_listening_on(srv.http_port) == srv.proc.pid


def test_sink_processes_can_run_at_a_lower_priority(server_process: Any, tmp_path: Path) -> None:
    srv = server_process()
    report = run_fanout(srv.url, tmp_path / "report.json", "--sink-nice", "5")

    assert report["sink_nice"] == 5
    assert report["connect_failures"] == 0 and report["seq_gaps"] == 0
    assert report["deliveries_per_s"] > 0.5 * report["expected_deliveries_per_s"]
