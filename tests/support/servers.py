"""Run real ``notalabel serve`` processes for integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port that was free a moment ago. Between choosing it and a child process
    binding it, anything on the machine may take it (a listener, or an outgoing connection's
    ephemeral port): whoever starts a process on it retries on ``PORT_TAKEN`` and checks with
    ``listens`` that the process answering is its own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bound_socket() -> socket.socket:
    """A listening-ready loopback socket on a free port, for a server in this process to
    serve on (``aiohttp.web.SockSite``): no window in which anything else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


PORT_TAKEN = "address already in use"
"""What a process says (in any case) when its port was taken first (EADDRINUSE)."""
PORT_ATTEMPTS = 5


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a socket listening on loopback ``port`` (Linux
    /proc): a connect alone could reach another process that took the port first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


class PortTakenError(RuntimeError):
    """The process could not bind its port: something took it after it was chosen."""


TEST_DB_POOL = 15
"""PostgreSQL connections a test's server process keeps at most (``--db-pool-size``; the
product's default is 30). Two test workers run several server processes at once against one
PostgreSQL with 100 connections in all; a test may ask for its own ``db_pool_size``."""


class ServerProcess:
    """One server process on free loopback ports; its log goes to a file in its data dir.

    The first start chooses new ports when one was taken in the meantime; a restart keeps
    its ports (clients hold its URLs) and retries them."""

    def __init__(self, data_dir: Path, settings: dict[str, Any]) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.overrides = settings
        self.started = False
        self._choose_ports()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def _choose_ports(self) -> None:
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.settings = {"http": f"127.0.0.1:{self.http_port}", "rtmp": f"127.0.0.1:{self.rtmp_port}",
                         "data_dir": str(self.data_dir), "log_format": "text", "db_pool_size": TEST_DB_POOL,
                         **self.overrides}

    def _own_ports(self) -> list[int]:
        ours = [(self.http_port, "http"), (self.rtmp_port, "rtmp")]
        return [port for port, key in ours if self.settings[key] == f"127.0.0.1:{port}"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live"

    def start(self, timeout: float = 90.0) -> None:
        for _attempt in range(PORT_ATTEMPTS):
            try:
                self._start_once(timeout)
            except PortTakenError:
                if self.started:
                    time.sleep(0.5)
                else:
                    self._choose_ports()
                continue
            self.started = True
            return
        raise RuntimeError(f"server could not bind its ports in {PORT_ATTEMPTS} attempts:\n{self.log()}")

    def _start_once(self, timeout: float) -> None:
        args = [sys.executable, "-m", "server.cli", "serve"]
        for key, value in self.settings.items():
            flag = key.replace("_", "-")
            if isinstance(value, bool):  # boolean settings are --flag / --no-flag
                args.append(f"--{flag}" if value else f"--no-{flag}")
            else:
                args += ["--" + flag, str(value)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALABEL_")}
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        logged = log.tell()
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                said = self.log_path.read_bytes()[logged:].decode(errors="replace")
                if PORT_TAKEN in said.lower():
                    raise PortTakenError(said)
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if all(listens(self.proc.pid, port) for port in self._own_ports()):
                try:
                    with urllib.request.urlopen(self.url + "/readyz", timeout=1) as answer:
                        if answer.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
