"""The viewer-capacity benchmarks' edge mode end to end (issue 14): an origin, edges of it, a
real publisher and a few viewers on the edges. Every viewer is served through an edge, the
edges pull from the origin, and every node's CPU is read. Behaviour only, never speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def run(module: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_hls_viewers_play_from_edges_that_pull_from_the_origin() -> None:
    report = run(
        "loadtest.hls_viewers",
        "--viewers",
        "4",
        "--duration",
        "3",
        "--ramp",
        "2",
        "--idle-window",
        "2",
        "--servers",
        "ours",
        "--edges",
        "2",
        "--redis",
        REDIS_URL,
        "--video-kbps",
        "600",
    )
    ours = report["ours"]
    assert (ours["viewers"], ours["failed_requests"]) == (4, 0)
    assert ours["parts_per_s"] > 0 and ours["playlists_per_s"] > 0
    nodes = ours["nodes"]
    assert sorted(nodes) == ["edge1", "edge2", "origin"]
    assert (nodes["origin"]["viewers"], nodes["origin"]["requests_per_s"]) == (0, 0)
    for edge in (nodes["edge1"], nodes["edge2"]):
        assert edge["viewers"] == 2 and edge["requests_per_s"] > 0
        assert edge["origin_fetches_per_s"] > 0
        assert edge["cpu_percent"] > 0 and edge["millicores_per_viewer"] > 0
    assert report["idle_cpu_percent"]["origin"] > 0  # the origin ingests and segments


def test_webrtc_viewers_play_from_an_edge_relay() -> None:
    report = run(
        "loadtest.webrtc_viewers", "--viewers", "2", "--procs", "1", "--window", "2", "--edges", "1"
    )
    assert (report["viewers"], report["edges"]) == (2, 1)
    assert report["video_mbps_min"] > 0
    assert report["origin_cpu_cores"] > 0
    assert len(report["edge_cpu_cores"]) == 1 and report["edge_cpu_cores"][0] > 0


def test_hls_viewers_through_a_cdn_reach_the_origin_once_per_part() -> None:
    report = run(
        "loadtest.hls_viewers",
        "--viewers",
        "6",
        "--duration",
        "4",
        "--ramp",
        "2",
        "--idle-window",
        "0.5",
        "--servers",
        "cdn",
        "--edges",
        "1",
        "--redis",
        REDIS_URL,
        "--video-kbps",
        "600",
    )
    cdn = report["cdn"]
    assert (cdn["viewers"], cdn["failed_requests"]) == (6, 0)
    assert cdn["parts_per_s"] > 0 and sorted(cdn["nodes"]) == ["cdn", "edge1", "origin"]
    origin = cdn["origin"]
    assert origin["parts_made"] > 0
    # Six viewers, one origin request per part (the parts already listed when the viewers
    # started may be asked for too, once each).
    assert 0 < origin["part_requests"] <= origin["parts_made"] + 4, origin
