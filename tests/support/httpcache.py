"""Debian's nginx as a CDN stand-in in front of one server, on a free port: the benchmarks'
configuration (:func:`loadtest.media_nginx.cache_config`: ``proxy_cache`` keyed on the full
request URI, ``proxy_cache_lock``), with an access log; each answer says ``X-Cache: HIT`` or ``MISS``."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from loadtest.media_nginx import cache_config
from tests.support.servers import PORT_ATTEMPTS, PORT_TAKEN, free_port, listens


class HttpCache:
    def __init__(self, workdir: Path, upstream: str) -> None:
        self.workdir = workdir
        self.upstream = upstream.rstrip("/")
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> str:
        return cache_config(self.workdir, self.port, self.upstream)

    def start(self, timeout: float = 10.0) -> None:
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            conf = self.workdir / "nginx.conf"
            conf.write_text(self._config())
            out = open(self.workdir / "stdout.log", "wb")  # noqa: SIM115 - closed with the process
            proc = self.proc = subprocess.Popen(["nginx", "-p", str(self.workdir), "-c", str(conf)],
                                                stdout=out, stderr=subprocess.STDOUT)
            out.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None and not listens(proc.pid, self.port):
                time.sleep(0.05)
            if proc.poll() is None and listens(proc.pid, self.port):
                return
            if proc.poll() is None:
                raise RuntimeError(f"nginx did not listen in {timeout}s: {self.log()}")
            if PORT_TAKEN not in self.log().lower():
                raise RuntimeError(f"nginx exited: {self.log()}")
        raise RuntimeError(f"nginx could not bind a port in {PORT_ATTEMPTS} attempts: {self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log(self) -> str:
        said = ""
        for name in ("error.log", "stdout.log"):
            path = self.workdir / name
            if path.exists():
                said += path.read_text(errors="replace")[-4000:]
        return said
