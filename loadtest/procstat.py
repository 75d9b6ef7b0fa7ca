"""CPU time and resident memory of processes, from ``/proc`` (Linux), and who listens where.

``cpu_seconds`` is user + system time (``/proc/PID/stat`` fields 14 and 15) divided by the
clock tick; ``rss_bytes`` is ``VmRSS`` from ``/proc/PID/status``. ``pid_listening_on``
finds the process holding a listening TCP socket on 127.0.0.1's port by matching the
socket's inode in ``/proc/net/tcp`` against ``/proc/*/fd``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    rss: int
    wait_s: float = 0.0
    """Runnable but not running (another process had the CPU)."""


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def runqueue_wait_seconds(pid: int) -> float:
    """Time ``pid`` was runnable but waiting for a CPU (``/proc/PID/schedstat``, field 2)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def sample(pids: list[int]) -> Sample:
    """Total CPU seconds and RSS of ``pids``."""
    return Sample(sum(cpu_seconds(p) for p in pids), sum(rss_bytes(p) for p in pids),
                  sum(runqueue_wait_seconds(p) for p in pids))


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process that holds the listening socket on ``port``, or ``None``."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not wanted:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(proc.name)
        except OSError:
            continue
    return None


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds all cores spent busy so far, and the part of it in interrupts (``/proc/stat``).

    Interrupt time (irq + softirq) is charged to no process: on loopback, that is mostly
    the kernel carrying our own TCP segments from the server's writes to the clients."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK, (irq + softirq) / TICK
