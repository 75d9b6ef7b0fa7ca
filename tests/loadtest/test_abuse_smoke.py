"""The hostile-users benchmark end to end, tiny: a few phases of a few seconds each.

Against a real ``notalabel serve`` with ffmpeg publishing: the report has every phase with
its figures, and the attacks were refused (with the status or code the server promises),
counted in /metrics, and the publisher kept. Behaviour only, never speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PHASES = ["empty_token", "guest_sockets", "slowloris", "lone_surrogates", "key_rotation"]


def run_abuse(out: Path) -> tuple[dict[str, Any], str]:
    args = [sys.executable, "-m", "loadtest.abuse", "--seconds", "3", "--settle", "0.5", "--probe-fans", "2",
            "--attacker-fans", "4", "--chat-interval", "1.0", "--phases", ",".join(PHASES),
            "--server-arg=--http-header-timeout-s=1", "--json", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report, done.stdout


def test_every_attack_is_refused_and_reported(tmp_path: Path) -> None:
    report, text = run_abuse(tmp_path / "abuse.json")

    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases) == ["idle", *PHASES, "idle_end"]
    assert "--http-header-timeout-s=1" in report["server_flags"]
    for name, phase in phases.items():
        assert phase["error"] == "", (name, phase["error"])
        assert phase["chat_samples"] > 0 and phase["health_samples"] > 0, name
        assert phase["chat_p99_ms"] is not None and phase["health_p99_ms"] is not None
        assert phase["publisher_kept"], (name, phase["publisher_detail"])
        if not name.startswith("idle"):
            assert phase["chat_delta_ms"] is not None and set(phase["goals"]) == {"chat", "healthz", "publisher", "checks"}
            assert phase["requests"] > 0 and phase["refused"] > 0, name
            assert all(phase["checks"].values()), (name, phase["checks"])

    assert phases["empty_token"]["outcomes"].get("401 ?token=", 0) > 0
    assert phases["empty_token"]["metrics"].get('nal_bad_input_total{kind="socket_token"}', 0) > 0
    assert phases["guest_sockets"]["outcomes"] == {"101": 20, "429": 20}  # --ws-guests-per-address 20
    assert phases["guest_sockets"]["metrics"].get('nal_ws_refused_total{reason="guests_per_address"}') == 20
    assert phases["slowloris"]["outcomes"].get("head 408", 0) > 0 and phases["slowloris"]["outcomes"].get("head 429", 0) > 0
    assert phases["slowloris"]["metrics"].get('nal_refused_total{reason="http_header_timeout"}', 0) > 0
    assert phases["lone_surrogates"]["outcomes"].get("error invalid_text", 0) > 0
    assert phases["lone_surrogates"]["outcomes"].get("join failed", 0) == 0
    assert phases["key_rotation"]["checks"]["old_publisher_cut"]
    # two markdown tables (the phases, the server's own cost): a header, a rule and one row per phase each
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| phase | chat") and rows[1].startswith("| ---") and len(rows) == 2 * (2 + len(phases))
    cost = rows[2 + len(phases):]
    assert cost[0].startswith("| phase | server CPU ms") and [r.split(" | ")[0] for r in cost[2:]] == [
        f"| {name}" for name in phases]
    assert all(phase["server_cpu_ms"] > 0 and phase["loop_cpu_ms"] > 0 for phase in phases.values())
