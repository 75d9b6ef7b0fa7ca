"""LL-HLS viewer load: N low-latency viewers of a 2.5 Mbps stream, our server vs nginx.

ffmpeg publishes a looped 720p30 H.264 + AAC file (about 2.5 Mbit/s, made once with
``-re -stream_loop -1 -c copy``, so the publisher costs almost no CPU) over RTMP to a
``notalabel serve`` started here. Viewer processes (:mod:`loadtest.media_viewer_worker`,
uvloop and a raw keep-alive HTTP/1.1 client) then play the room's LL-HLS the way players do:
a blocking playlist reload per part, then the part.

The reference: the same playlist and parts mirrored to a directory as they appear
(:mod:`loadtest.media_mirror`) and served by nginx (one process, sendfile), with the very
same requests from the same viewers (a viewer asks once the mirror has the part, since a
file server cannot hold a request).

Reported per server: its CPU (user + system from /proc/PID/stat over the measured window,
100% = one core), requests/s, bytes/s, failed requests, part fetch time (request to last
byte) p50/p99, and the media rate each viewer received. Our server's CPU per request is also
given net of the stream's own cost (ingest and segmenting, read for ``--idle-window`` seconds
with no viewer before the first phase), which nginx's figure does not carry either.

    python -m loadtest.hls_viewers --viewers 1000 --duration 30
    python -m loadtest.hls_viewers --viewers 1000 --duration 30 --servers ours
    python -m loadtest.hls_viewers --viewers 300 --duration 20 --servers ours,gated
    python -m loadtest.hls_viewers --viewers 1000 --duration 30 --no-fast-path

``gated`` (after ``ours``, on the same server and stream): a show with a tier goes on sale
in the room, so every request needs its viewing token (the owner's viewing session's, in the
path as the session's ``hls_url`` gives it: ``/live/{slug}/vt/{token}/index.m3u8``, whose
playlist lists relative URIs), and the same viewers play again. ``gated-query``: the same
with the token as ``?vt=`` (the playlist lists it on every URI). Printed: the ratio of server
CPU per request, gated over ungated (issue 10: at most 1.10).

``--edges N`` (issue 14: viewer capacity scales with nodes) starts N + 1 ``notalabel serve``
nodes on one Redis (``--redis``, a fresh key prefix) and one database: the publisher goes to
the first (the origin) and the viewers are spread evenly over the N others, each an LL-HLS
edge pulling the room from the origin once per URL (media.hls.edge). Reported per node
(``nodes``): CPU, requests/s, CPU per request and per viewer, and for each edge its fetches
from the origin per second (its ``/metrics``), to set beside a run without edges:

    python -m loadtest.hls_viewers --viewers 200 --duration 15 --servers ours --viewer-nice 19
    python -m loadtest.hls_viewers --viewers 200 --duration 15 --servers ours --viewer-nice 19 --edges 2

``cdn`` (issue 14: behind a CDN, at most one origin request per part however many viewers):
Debian's nginx with ``proxy_cache`` and ``proxy_cache_lock`` (:func:`loadtest.media_nginx.start_cache`)
in front of the server (with ``--edges``, in front of the first edge), and every viewer plays
through it. Reported beside the viewers' figures (``origin``): the LL-HLS part and playlist
requests the origin answered over the run (its ``nal_hls_requests_total``), the parts it made
in that time (its playlist, read every 200 ms), and requests per part:

    python -m loadtest.hls_viewers --viewers 500 --duration 15 --servers cdn
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from loadtest import procstat
from loadtest.media_mirror import Mirror
from loadtest.media_nginx import start_cache, start_nginx
from loadtest.media_server import (
    MediaServer,
    create_room,
    gate_room,
    renew_token,
    start_server,
    wait_for_playlist,
)
from loadtest.media_timecode import percentile
from loadtest.servers import Started, start_ours

SOURCE_SECONDS = 20


def make_source(path: Path, video_kbps: int, audio_kbps: int) -> Path:
    """A 720p30 H.264 (High, GOP 1 s, CBR-ish) + AAC file, made once and reused."""
    if path.exists():
        return path
    temporary = path.with_suffix(".tmp.flv")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30",
         "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k", "-bufsize", f"{video_kbps // 2}k",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", f"{audio_kbps}k",
         "-t", str(SOURCE_SECONDS), "-f", "flv", str(temporary)],
        check=True, timeout=600)
    temporary.rename(path)
    return path


def start_publisher(source: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
         "-i", str(source), "-c", "copy", "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass(frozen=True)
class Node:
    """A server process whose CPU is read over the window, and the viewers that play from it."""

    role: str
    url: str
    pid: int
    viewers: int = 0


def viewer_args(node: Node, playlist_path: str, count: int, start_at: float, duration: float, mode: str,
                watch: Path | None, nice: int) -> list[str]:
    parts = urlsplit(node.url)
    args = [sys.executable, "-m", "loadtest.media_viewer_worker", "--host", str(parts.hostname),
            "--port", str(parts.port), "--playlist", playlist_path, "--viewers", str(count),
            "--start-at", str(start_at), "--duration", str(duration), "--mode", mode]
    if watch is not None:
        args += ["--watch", str(watch)]
    return ["nice", "-n", str(nice), *args] if nice else args


def split(total: int, ways: int) -> list[int]:
    return [total // ways + (1 if i < total % ways else 0) for i in range(ways)]


async def run_viewers(nodes: list[Node], playlist_path: str, processes: int, duration: float, ramp: float,
                      mode: str, watch: Path | None, nice: int = 0) -> dict[str, Any]:
    """Start the viewer processes (``processes`` split over the nodes that have viewers), read
    every node's CPU over the window, merge the results: the top-level figures are those of
    the nodes the viewers play from, ``nodes`` has each node's own."""
    start_at = time.time() + ramp
    serving = [node for node in nodes if node.viewers]
    workers: list[tuple[Node, asyncio.subprocess.Process]] = []
    for node in serving:
        for count in split(node.viewers, max(1, processes // len(serving))):
            workers.append((node, await asyncio.create_subprocess_exec(
                *viewer_args(node, playlist_path, count, start_at, duration, mode, watch, nice),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)))
    edges = [node for node in nodes if node.role.startswith("edge")]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    pulls0 = [await upstream_fetches(node.url) for node in edges]
    cpu0, wait0 = [procstat.cpu_seconds(n.pid) for n in nodes], [run_queue_wait(n.pid) for n in nodes]
    busy0, wall0 = machine_seconds(), time.monotonic()
    await asyncio.sleep(duration)
    cpu1, wait1 = [procstat.cpu_seconds(n.pid) for n in nodes], [run_queue_wait(n.pid) for n in nodes]
    busy1, wall1 = machine_seconds(), time.monotonic()
    pulls1 = [await upstream_fetches(node.url) for node in edges]
    outputs: dict[str, list[dict[str, Any]]] = {node.role: [] for node in nodes}
    for node, worker in workers:
        out, err = await asyncio.wait_for(worker.communicate(), duration + ramp + 60)
        if worker.returncode != 0:
            raise RuntimeError(f"viewer process failed: {err.decode(errors='replace')[-2000:]}")
        outputs[node.role].append(json.loads(out))
    elapsed = wall1 - wall0
    cpu = {n.role: c1 - c0 for n, c0, c1 in zip(nodes, cpu0, cpu1, strict=True)}
    wait = {n.role: w1 - w0 for n, w0, w1 in zip(nodes, wait0, wait1, strict=True)}
    result = summarize([o for n in serving for o in outputs[n.role]], sum(n.viewers for n in serving), elapsed,
                       sum(cpu[n.role] for n in serving), (busy1[0] - busy0[0], busy1[1] - busy0[1]))
    result["server_cpu_wait_percent"] = round(100 * sum(wait[n.role] for n in serving) / elapsed, 1)
    result["nodes"] = {n.role: node_figures(n, outputs[n.role], cpu[n.role], wait[n.role], elapsed) for n in nodes}
    for node, before, after in zip(edges, pulls0, pulls1, strict=True):
        result["nodes"][node.role]["origin_fetches_per_s"] = round((after - before) / elapsed, 1)
    return result


def node_figures(node: Node, outputs: list[dict[str, Any]], cpu: float, wait: float,
                 elapsed: float) -> dict[str, Any]:
    """One node's CPU over the window, and per request and per viewer of its own."""
    requests = sum(o["requests"] for o in outputs)
    figures: dict[str, Any] = {"viewers": node.viewers, "cpu_percent": round(100 * cpu / elapsed, 1),
                               "cpu_wait_percent": round(100 * wait / elapsed, 1),
                               "requests_per_s": round(requests / elapsed)}
    if node.viewers:
        figures["cpu_us_per_request"] = round(1e6 * cpu / max(1, requests), 1)
        figures["millicores_per_viewer"] = round(1000 * cpu / elapsed / node.viewers, 3)
    return figures


async def upstream_fetches(base: str) -> float:
    """How many LL-HLS fetches a node has made from an origin so far (its ``/metrics``)."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as answer:
        text = await answer.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("nal_hls_edge_upstream_total{"))


async def stream_cost(pid: int, seconds: float) -> float:
    """Cores the server spends with the stream live and no viewer (RTMP ingest, segmenting,
    the muxer's tasks): the part of its CPU that is not serving requests."""
    cpu0, wall0 = procstat.cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (procstat.cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)


def net_of_stream(result: dict[str, Any], stream_cores: float) -> None:
    """Add the CPU per request net of the stream's own cost (``stream_cost``): a server that
    got less CPU served fewer requests over which that fixed cost is spread, which moves the
    plain figure by more than what serving costs."""
    served = result["server_cpu_percent"] / 100 - stream_cores
    result["server_cpu_us_per_request_net"] = round(1e6 * served / max(1, result["requests_per_s"]), 1)


def run_queue_wait(pid: int) -> float:
    """Seconds ``pid`` spent runnable but waiting for a CPU (``/proc/PID/schedstat``): how
    much the rest of the machine held the server back."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def machine_seconds() -> tuple[float, float]:
    """CPU seconds all cores spent busy so far, and the part of it in interrupts (on
    loopback mostly the kernel carrying TCP segments, charged to no process)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / procstat.TICK, (irq + softirq) / procstat.TICK


def summarize(outputs: list[dict[str, Any]], viewers: int, elapsed: float, cpu: float,
              machine: tuple[float, float]) -> dict[str, Any]:
    times = [t for o in outputs for t in o["part_times_ms"]]
    total = {key: sum(o[key] for o in outputs)
             for key in ("requests", "playlist_requests", "part_requests", "bytes", "failures")}
    errors: dict[str, int] = {}
    for output in outputs:
        for reason, count in output["errors"].items():
            errors[reason] = errors.get(reason, 0) + count
    return {
        "viewers": viewers,
        "server_cpu_percent": round(100 * cpu / elapsed, 1),
        "server_cpu_us_per_request": round(1e6 * cpu / max(1, total["requests"]), 1),
        "machine_busy_percent": round(100 * machine[0] / elapsed / (os.cpu_count() or 1), 1),
        "machine_interrupt_percent": round(100 * machine[1] / elapsed, 1),
        "requests_per_s": round(total["requests"] / elapsed),
        "playlists_per_s": round(total["playlist_requests"] / elapsed),
        "parts_per_s": round(total["part_requests"] / elapsed),
        "bytes_per_s": round(total["bytes"] / elapsed),
        "mbit_per_s": round(total["bytes"] * 8 / elapsed / 1e6, 1),
        "per_viewer_kbit_per_s": round(total["bytes"] * 8 / elapsed / viewers / 1e3),
        "failed_requests": total["failures"],
        "errors": errors,
        "part_fetch_p50_ms": percentile(times, 0.50),
        "part_fetch_p99_ms": percentile(times, 0.99),
        "part_fetch_max_ms": max(times) if times else None,
    }


def start_nodes(args: argparse.Namespace, work: Path) -> list[MediaServer | Started]:
    """The servers: one ``notalabel serve``, or with ``--edges N`` an origin and N edges on
    one Redis (a fresh key prefix) and one database."""
    flags = [] if args.fast_path else ["--no-hls-fast-path"]
    if not args.edges:
        return [start_server(work / "server", flags)]
    return list(start_ours(1 + args.edges, redis=args.redis, workdir=work / "nodes", extra=flags))


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nal-hls-viewers-"))
    source = make_source(Path(tempfile.gettempdir()) / f"nal-hls-viewers-{args.video_kbps}k.flv",
                         args.video_kbps, args.audio_kbps)
    servers = start_nodes(args, work)
    server = servers[0]
    publisher = None
    results: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()],
                               "fast_path": args.fast_path, "edges": args.edges}
    gated = False
    try:
        owner = "bench" + os.urandom(4).hex()
        slug, publish_url = await create_room(server.url, owner)
        publisher = start_publisher(source, publish_url)
        playlist_path = f"/live/{slug}/index.m3u8"
        for node in servers:
            await wait_for_playlist(node.url + playlist_path)
        await asyncio.sleep(3)  # a few segments in the window
        idle = await asyncio.gather(*(stream_cost(node.pid, args.idle_window) for node in servers))
        results["stream_cost_cpu_percent"] = round(100 * (sum(idle[1:]) if args.edges else idle[0]), 1)
        if args.edges:
            results["idle_cpu_percent"] = {"origin": round(100 * idle[0], 1)} | {
                f"edge{i}": round(100 * cores, 1) for i, cores in enumerate(idle[1:], 1)}
        for name in args.servers.split(","):
            if name == "ours":
                serving = servers[1:] if args.edges else servers
                nodes = [Node("origin", server.url, server.pid)] if args.edges else []
                nodes += [Node(f"edge{i}" if args.edges else "server", node.url, node.pid, share)
                          for i, (node, share) in enumerate(zip(serving, split(args.viewers, len(serving)),
                                                                strict=True), 1)]
                results["ours"] = await run_viewers(nodes, playlist_path, args.processes, args.duration,
                                                    args.ramp, "ours", None, args.viewer_nice)
            elif name in ("gated", "gated-query"):
                if gated:
                    token = await renew_token(server.url, slug, owner)
                else:
                    token = await gate_room(server.url, slug, owner)
                    gated = True
                    await asyncio.sleep(4)  # every node's gate cache (3 s) sees the show
                path = (f"/live/{slug}/vt/{token}/index.m3u8" if name == "gated"  # as hls_url gives it
                        else f"{playlist_path}?vt={token}")
                results[name] = await run_viewers(
                    [Node("server", server.url, server.pid, args.viewers)], path,
                    args.processes, args.duration, args.ramp, "ours", None, args.viewer_nice)
            elif name == "cdn":
                results["cdn"] = await bench_cdn(args, work, servers, playlist_path)
            elif name == "nginx":
                results["nginx"] = await bench_nginx(args, work, server.url, playlist_path)
            else:
                raise SystemExit(f"unknown server {name!r}: ours, gated, gated-query, cdn or nginx")
    finally:
        if publisher is not None:
            publisher.kill()
            publisher.wait(10)
        for node in servers:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    for name in ("ours", "gated", "gated-query"):
        if name in results:
            net_of_stream(results[name], results["stream_cost_cpu_percent"] / 100)
    return results


PART_URI = re.compile(r'#EXT-X-PART:[^\n]*URI="([^"]+)"')


async def made_parts(http: aiohttp.ClientSession, url: str, seen: set[str], polls: list[int],
                     every: float = 0.2) -> None:
    """Add to ``seen`` the name of every part the playlist at ``url`` lists, until cancelled;
    ``polls[0]`` counts the requests."""
    while True:
        polls[0] += 1
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as answer:
                seen.update(PART_URI.findall(await answer.text()))
        await asyncio.sleep(every)


async def origin_requests(base: str) -> dict[str, float]:
    """The LL-HLS requests a node has answered so far, by kind (its ``/metrics``)."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as answer:
        text = await answer.text()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if match := re.match(r'nal_hls_requests_total\{kind="(\w+)",status="\d+"\} (\S+)', line):
            counts[match[1]] = counts.get(match[1], 0.0) + float(match[2])
    return counts


async def bench_cdn(args: argparse.Namespace, work: Path, servers: list[MediaServer | Started],
                    playlist_path: str) -> dict[str, Any]:
    """Every viewer through nginx ``proxy_cache`` in front of the server (or the first edge):
    the viewers' figures, and what reached the origin per part made (see the module docstring)."""
    origin, front = servers[0], servers[1] if args.edges else servers[0]
    cache = start_cache(work / "cdn", front.url)
    nodes = [Node("cdn", cache.url, cache.pid, args.viewers), Node("origin", origin.url, origin.pid)]
    if args.edges:
        nodes.append(Node("edge1", front.url, front.pid))
    seen: set[str] = set()
    polls = [1]  # the read of ``already`` below
    try:
        async with aiohttp.ClientSession() as http:
            await wait_for_playlist(cache.url + playlist_path)
            before = await origin_requests(origin.url)
            async with http.get(origin.url + playlist_path) as answer:
                already = set(PART_URI.findall(await answer.text()))
            watching = asyncio.create_task(made_parts(http, origin.url + playlist_path, seen, polls))
            try:
                result = await run_viewers(nodes, playlist_path, args.processes, args.duration, args.ramp,
                                           "ours", None, args.viewer_nice)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            after = await origin_requests(origin.url)
    finally:
        cache.stop()
    made = len(seen - already)
    asked = {kind: after.get(kind, 0.0) - before.get(kind, 0.0) for kind in ("part", "playlist", "segment")}
    asked["playlist"] -= polls[0]  # this benchmark's own reads of the origin's playlist
    result["origin"] = {"parts_made": made, "part_requests": round(asked["part"]),
                        "playlist_requests": round(asked["playlist"]), "segment_requests": round(asked["segment"]),
                        "part_requests_per_part": round(asked["part"] / max(1, made), 3)}
    return result


async def bench_nginx(args: argparse.Namespace, work: Path, origin: str, playlist_path: str) -> dict[str, Any]:
    root = work / "nginx"
    directory = root / "www" / playlist_path.strip("/").rsplit("/", 1)[0]
    mirror = Mirror(origin + playlist_path, directory)
    mirroring = asyncio.create_task(mirror.run())
    nginx = start_nginx(root)
    try:
        while not mirror.playlist_path.exists():
            if mirroring.done():
                mirroring.result()
            await asyncio.sleep(0.1)
        return await run_viewers([Node("server", nginx.url, nginx.pid, args.viewers)], playlist_path,
                                 args.processes, args.duration, args.ramp, "files", mirror.playlist_path,
                                 args.viewer_nice)
    finally:
        mirroring.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mirroring
        nginx.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per server")
    parser.add_argument("--ramp", type=float, default=6.0, help="seconds to connect every viewer")
    parser.add_argument("--processes", type=int, default=2, help="viewer processes")
    parser.add_argument("--servers", default="ours,nginx")
    parser.add_argument("--video-kbps", type=int, default=2350)
    parser.add_argument("--audio-kbps", type=int, default=128)
    parser.add_argument("--idle-window", type=float, default=5.0,
                        help="seconds the server's CPU is read with the stream live and no viewer")
    parser.add_argument("--fast-path", action=argparse.BooleanOptionalAction, default=True,
                        help="our server's LL-HLS fast path (--no-fast-path: aiohttp serves /live/, to measure it)")
    parser.add_argument("--edges", type=int, default=0,
                        help="publish to an origin node and spread the viewers over this many edge nodes")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="the Redis of the nodes' room directory (--edges)")
    parser.add_argument("--viewer-nice", type=int, default=0,
                        help="run the viewer processes at this niceness (the servers keep theirs)")
    args = parser.parse_args(argv)
    if args.edges and not set(args.servers.split(",")) <= {"ours", "cdn"}:
        parser.error("--edges measures our nodes only: --servers ours, cdn or ours,cdn")
    results = asyncio.run(bench(args))
    for gated in ("gated", "gated-query"):
        if "ours" in results and gated in results:
            key = gated.replace("-", "_")
            results[f"{key}_cpu_per_request_ratio"] = ratio = round(
                results[gated]["server_cpu_us_per_request"] / results["ours"]["server_cpu_us_per_request"], 3)
            results[f"{key}_cpu_per_request_net_ratio"] = net = round(
                results[gated]["server_cpu_us_per_request_net"] / results["ours"]["server_cpu_us_per_request_net"], 3)
            how = "in the path, as hls_url gives it" if gated == "gated" else "as ?vt="
            print(f"viewing tokens ({how}): {ratio}x the server CPU per request (goal <= 1.10); "
                  f"net of the stream's own {results['stream_cost_cpu_percent']}%: {net}x")
    if "ours" in results and "nginx" in results:
        ours, nginx = results["ours"], results["nginx"]
        results["nginx_cpu_per_request_ratio"] = round(
            ours["server_cpu_us_per_request"] / nginx["server_cpu_us_per_request"], 2)
        results["nginx_cpu_per_request_net_ratio"] = round(
            ours["server_cpu_us_per_request_net"] / nginx["server_cpu_us_per_request"], 2)
        print(f"ours vs nginx: {results['nginx_cpu_per_request_ratio']}x the CPU per request (goal <= 3), "
              f"{results['nginx_cpu_per_request_net_ratio']}x net of our stream's own "
              f"{results['stream_cost_cpu_percent']}%; "
              f"part fetch p99 {ours['part_fetch_p99_ms']} ms vs {nginx['part_fetch_p99_ms']} ms (goal: no worse)")
    for name in ("ours", "gated", "gated-query", "nginx"):
        if name in results:
            r = results[name]
            if args.edges:
                for role, n in r["nodes"].items():
                    print(f"{role:6} {n['viewers']} viewers: cpu {n['cpu_percent']}% "
                          f"(waited for a cpu {n['cpu_wait_percent']}%)  {n['requests_per_s']} req/s"
                          + (f"  {n['cpu_us_per_request']} us/req  {n['millicores_per_viewer']} millicores a viewer"
                             if n["viewers"] else "")
                          + (f"  {n['origin_fetches_per_s']} origin fetches/s" if "origin_fetches_per_s" in n else ""))
            print(f"{name:6} {r['viewers']} viewers: cpu {r['server_cpu_percent']}% "
                  f"(waited for a cpu {r['server_cpu_wait_percent']}%)  "
                  f"{r['server_cpu_us_per_request']} us/req "
                  f"{round(10 * r['server_cpu_percent'] / r['viewers'], 3)} millicores a viewer  "
                  f"{r['requests_per_s']} req/s  {r['mbit_per_s']} Mbit/s "
                  f"({r['per_viewer_kbit_per_s']} kbit/s a viewer)  failed {r['failed_requests']}  "
                  f"part fetch p50 {r['part_fetch_p50_ms']} ms p99 {r['part_fetch_p99_ms']} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
