"""A throwaway redis-server on a free port, for tests that kill and restart Redis."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.support.servers import PORT_ATTEMPTS, PORT_TAKEN, free_port, listens


class RedisServer:
    """The first start chooses a new port if its port was taken in the meantime; a restart
    keeps the port (clients hold the URL) and retries it."""

    def __init__(self, workdir: Path, persistent: bool = True) -> None:
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False
        self.log_path = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _attempt in range(PORT_ATTEMPTS):
            if self._start_once():
                self.started = True
                return
            if self.started:
                time.sleep(0.5)
            else:
                self.port = free_port()
        raise RuntimeError(f"redis-server could not bind a port in {PORT_ATTEMPTS} attempts")

    def _start_once(self) -> bool:
        """True once our redis-server answers PING; False if its port was taken."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.dir), "--logfile", str(self.log_path)]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        proc = self.proc = subprocess.Popen(args)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                said = self.log_path.read_bytes()[logged:].decode(errors="replace")
                if PORT_TAKEN in said.lower():
                    return False
                raise RuntimeError(f"redis-server exited with {proc.returncode}: {said}")
            if listens(proc.pid, self.port):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return True
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        self.kill()
