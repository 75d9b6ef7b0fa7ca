"""Start the servers a benchmark runs against: ``notalabel serve`` nodes or the Node reference.

Every process listens on a free loopback port, logs to a file in a temporary directory,
and is stopped with SIGTERM (then SIGKILL) by ``stop``. Several ``notalabel serve`` nodes
share one Redis (``--redis``) and one database (a shared SQLite file unless ``database``
is given); they are started one after the other so only the first applies migrations.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

NODE_REF = Path(__file__).resolve().parent / "node_ref"
SOCKETIO_REF = Path(__file__).resolve().parent / "sio_ref"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Started:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def wait_ready(started: Started, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.proc.poll() is not None:
            raise RuntimeError(f"{started.url} exited with {started.proc.returncode}:\n{started.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(started.url + path, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    started.stop()
    raise RuntimeError(f"{started.url} not ready in {timeout}s:\n{started.log_text()[-3000:]}")


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


# Every client of a load test comes from 127.0.0.1: the per-address limits are off here.
LOADTEST_LIMITS = ["--http-conns-per-address", "0", "--signups-per-hour-per-address", "0",
                   "--room-creates-per-hour-per-address", "0", "--ws-guests-per-address", "0"]


def start_ours(count: int, redis: str = "", database: str = "", workdir: Path | None = None,
               extra: list[str] | None = None) -> list[Started]:
    """Start ``count`` ``notalabel serve`` nodes; more than one needs ``redis``."""
    if count > 1 and not redis:
        raise ValueError("several nodes share rooms only through Redis: pass --redis URL")
    root = workdir or Path(tempfile.mkdtemp(prefix="nal-fanout-"))
    database = database or f"sqlite:///{root / 'shared.sqlite3'}"
    prefix = "lt-" + uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALABEL_")}
    nodes: list[Started] = []
    try:
        for i in range(count):
            data = root / f"node{i}"
            data.mkdir(parents=True, exist_ok=True)
            port = free_port()
            args = [sys.executable, "-m", "server.cli", "serve", "--http", f"127.0.0.1:{port}",
                    "--rtmp", f"127.0.0.1:{free_port()}", "--data-dir", str(data), "--database", database,
                    "--log-level", "warning", "--log-format", "text", *LOADTEST_LIMITS, *(extra or [])]
            if redis:
                args += ["--redis", redis, "--redis-prefix", prefix]
            node = Started(f"http://127.0.0.1:{port}", _spawn(args, data / "server.log", env), data / "server.log")
            nodes.append(node)
            wait_ready(node, "/readyz")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def npm_install(package: Path = NODE_REF, marker: str = "ws") -> None:
    """Install a reference's dependencies (its package-lock.json) from npm if ``marker`` is
    not installed yet."""
    if (package / "node_modules" / marker / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the Node references need node and npm (apt-get install nodejs npm)")
    print(f"installing {package.name} from npm ...", file=sys.stderr, flush=True)
    subprocess.run([npm, "ci", "--prefix", str(package), "--no-audit", "--no-fund"],
                   check=True, timeout=300)


def start_node_reference(workdir: Path | None = None) -> Started:
    npm_install()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the Node reference needs node (apt-get install nodejs)")
    root = workdir or Path(tempfile.mkdtemp(prefix="nal-fanout-ref-"))
    port = free_port()
    log = root / "node.log"
    started = Started(f"http://127.0.0.1:{port}", _spawn([node, str(NODE_REF / "server.js"), str(port)], log), log)
    wait_ready(started, "/readyz")
    return started


def start_socketio_reference(count: int, redis: str = "", workdir: Path | None = None) -> list[Started]:
    """Start ``count`` Socket.IO reference nodes (``sio_ref/server.js``); more than one
    share rooms through ``redis`` with Socket.IO's Redis adapter, under a fresh key prefix."""
    if count > 1 and not redis:
        raise ValueError("several Socket.IO nodes share rooms only through Redis: pass --redis URL")
    npm_install(SOCKETIO_REF, "socket.io")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the Socket.IO reference needs node (apt-get install nodejs)")
    root = workdir or Path(tempfile.mkdtemp(prefix="nal-fanout-sio-"))
    env = dict(os.environ, SIO_KEY="lt-sio-" + uuid.uuid4().hex[:8])
    if redis:
        env["REDIS_URL"] = redis
    nodes: list[Started] = []
    try:
        for i in range(count):
            port = free_port()
            log = root / f"sio{i}.log"
            started = Started(f"http://127.0.0.1:{port}",
                              _spawn([node, str(SOCKETIO_REF / "server.js"), str(port)], log, env), log)
            nodes.append(started)
            wait_ready(started, "/readyz")
    except BaseException:
        for started in nodes:
            started.stop()
        raise
    return nodes
