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

from tests.support.servers import free_port

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class Nginx:
    def __init__(self, workdir: Path, *, on_publish: str | None = None,
                 tls: tuple[Path, Path] | None = None, port: int | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls_port = free_port() if tls else 0
        self.on_publish = on_publish
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "nginx.conf"
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
        log = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(["nginx", "-p", str(self.workdir), "-c", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen in {timeout}s: {self.log()}")

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
