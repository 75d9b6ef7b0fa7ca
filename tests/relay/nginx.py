"""nginx with its RTMP module, started by a test on free ports, standing in for YouTube and Twitch.

Applications ``yt`` and ``tw`` are plain live applications; ``guarded`` asks an HTTP
``on_publish`` hook whether the key may publish. With ``tls_port`` the ``stream`` module
terminates TLS on that port (certificate and key given) and passes the bytes to RTMP.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.servers import PORT_ATTEMPTS, PORT_TAKEN, free_port, listens

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class Nginx:
    def __init__(self, workdir: Path, *, on_publish: str | None = None,
                 tls: tuple[Path, Path] | None = None, port: int | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.chosen = port is None  # our own free port: a first start may choose again
        self.started = False
        self.on_publish = on_publish
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "nginx.conf"
        self._choose_ports(port)

    def _choose_ports(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.tls_port = free_port() if self.tls else 0
        self.conf.write_text(self._config())

    def _config(self) -> str:
        w = self.workdir
        guarded = f"application guarded {{ live on; on_publish {self.on_publish}; }}" if self.on_publish else ""
        stream = ""
        modules = f"load_module {RTMP_MODULE};\n"
        if self.tls:
            cert, key = self.tls
            modules += f"load_module {STREAM_MODULE};\n"
            stream = (f"stream {{ server {{ listen 127.0.0.1:{self.tls_port} ssl; ssl_certificate {cert}; "
                      f"ssl_certificate_key {key}; proxy_pass 127.0.0.1:{self.port}; }} }}")
        return f"""{modules}
daemon off;
master_process off;
pid {w}/nginx.pid;
error_log {w}/error.log info;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{self.port};
        chunk_size 4096;
        application yt {{ live on; }}
        application tw {{ live on; }}
        {guarded}
    }}
}}
{stream}
"""

    def url(self, app: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/{app}"

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until this nginx listens. If a port it was given by ``free_port``
        was taken in the meantime, the first start chooses new ones; otherwise it retries."""
        for _attempt in range(PORT_ATTEMPTS):
            if self._start_once(timeout):
                self.started = True
                return
            if self.chosen and not self.started:
                self._choose_ports()
            else:
                time.sleep(0.5)
        raise RuntimeError(f"nginx could not bind its ports in {PORT_ATTEMPTS} attempts: {self.log()}")

    def _start_once(self, timeout: float) -> bool:
        logged = self._log_size()
        log = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - closed with the process
        proc = self.proc = subprocess.Popen(["nginx", "-p", str(self.workdir), "-c", str(self.conf)],
                                            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        ports = [p for p in (self.port, self.tls_port) if p]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                if PORT_TAKEN in self._log_since(logged).lower():
                    return False
                raise RuntimeError(f"nginx exited: {self.log()}")
            if all(listens(proc.pid, p) for p in ports):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen in {timeout}s: {self.log()}")

    def _logs(self) -> list[Path]:
        return [self.workdir / "error.log", self.workdir / "stdout.log"]

    def _log_size(self) -> list[int]:
        return [path.stat().st_size if path.exists() else 0 for path in self._logs()]

    def _log_since(self, sizes: list[int]) -> str:
        return "".join(path.read_bytes()[size:].decode(errors="replace")
                       for path, size in zip(self._logs(), sizes, strict=True) if path.exists())

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
        path = self.workdir / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""
