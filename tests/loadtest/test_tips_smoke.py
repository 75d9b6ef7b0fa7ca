"""The paid-tips benchmark end to end against a real ``notalabel serve`` process: every tip
is created, paid through the sandbox, and seen once by the probe; the ledger check passes.
Behaviour only, never speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def test_every_tip_arrives_once_and_the_ledger_holds(server_process: Any, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'tips.sqlite3'}"
    srv = server_process(database=database, http_conns_per_address=0, signups_per_hour_per_address=0)
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "loadtest.tips", "--url", srv.url, "--database", database,
                           "--tips", "30", "--concurrency", "4", "--fans", "3", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert (report["tips"], report["missing"], report["duplicates"], report["ledger_check"]) == (30, 0, 0, "ok")
    assert report["tips_per_s"] > 0
    assert 0 < report["pay_to_room_p50_ms"] <= report["pay_to_room_p99_ms"]
