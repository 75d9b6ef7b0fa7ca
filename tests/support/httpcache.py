"""Debian's nginx as a CDN stand-in: ``proxy_cache`` with ``proxy_cache_lock`` in front of one
server, on a free port. It caches what the upstream's ``Cache-Control`` allows, keyed on
the full request URI (so each blocking playlist reload is its own entry), and lets one
request per key reach the upstream while the others wait for its answer."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

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
        w, t = self.workdir, self.workdir / "tmp"
        return f"""
daemon off;
master_process off;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log {w}/access.log;
    client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;
    proxy_cache_path {w}/cache levels=1:2 keys_zone=hls:10m max_size=256m inactive=10m use_temp_path=off;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass {self.upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache hls;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_lock_age 30s;
            proxy_read_timeout 30s;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""

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
