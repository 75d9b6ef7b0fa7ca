"""Run ``notalabel serve`` with a watch on its event loop: which callbacks hold it, and where.

    python -m loadtest.loopwatch --out holds.jsonl --hold-ms 20 -- serve --http ... (server args)

Every callback the loop runs (a task step, an I/O callback, a timer) is timed twice: wall
time, and the loop thread's own CPU time (``time.thread_time``). One that holds the loop
for ``--hold-ms`` or more is written to ``--out`` as one JSON line: when it started
(``time.time()``), ``wall_ms``, ``cpu_ms``, what it was (the task's coroutine or the
callback), and ``stacks``: where the loop thread was, sampled every ``--sample-ms`` by a
watchdog thread while the callback ran, the most frequent first. Every collection of the
oldest generation by Python's garbage collector is written too (``"gc": 2``, with its wall
and CPU time): a full collection holds the loop like any callback, from inside whichever
callback happened to allocate.

The CPU time is what makes it useful on a shared machine: a callback that holds the loop
for 300 ms of wall time but 2 ms of CPU was preempted (the machine is busy, or another
thread held the GIL), while one with 300 ms of CPU is work of ours to move off the loop,
however idle or loaded the machine is.

The server runs on the standard asyncio loop here (uvloop's handles cannot be timed from
Python), with asyncio's debug mode off, so the figures are those of our code, not of the
debug checks. It is a diagnostic for ``loadtest.abuse --loop-watch``, not a way to serve.
"""

from __future__ import annotations

import argparse
import asyncio.events
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

STACK_DEPTH = 30
KEPT_STACKS = 3
TOP_TYPES = 12


def describe(callback: Callable[..., Any]) -> str:
    """A task step as its coroutine (``Task-3 handle_request``), any other callback by name."""
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {owner.get_name()} {getattr(coro, '__qualname__', type(coro).__name__)}"
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    if owner is not None and not isinstance(owner, type):
        return f"{type(owner).__qualname__}.{getattr(callback, '__name__', name)}"
    return str(name)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    cwd = os.getcwd() + "/"
    return path[len(cwd):] if path.startswith(cwd) else path


def stack_of(frame: FrameType | None) -> str:
    """Innermost first: ``file:line function`` of up to STACK_DEPTH frames, ' < ' between."""
    parts: list[str] = []
    while frame is not None and len(parts) < STACK_DEPTH:
        code = frame.f_code
        parts.append(f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


class LoopWatch:
    """Times every ``Handle._run`` of the loop thread; a watchdog thread samples long ones."""

    def __init__(self, out: TextIO, hold_ms: float, sample_ms: float) -> None:
        self.out = out
        self.hold = hold_ms / 1000
        self.sample = sample_ms / 1000
        self._current: tuple[int, float] | None = None  # (serial, monotonic start), set by the loop thread
        self._serial = 0
        self._samples: dict[int, Counter[str]] = {}
        self._lock = threading.Lock()
        self._loop_thread = threading.get_ident()
        self._gc_began = (0.0, 0.0, 0.0)
        self._write_lock = threading.RLock()
        self._running = False
        self._original = asyncio.events.Handle._run

    def install(self) -> None:
        watch = self
        original = asyncio.events.Handle._run

        def timed_run(handle: asyncio.events.Handle) -> None:
            watch._serial += 1
            serial = watch._serial
            began_wall, began = time.time(), time.monotonic()
            began_cpu = time.thread_time()
            watch._current = (serial, began)
            try:
                original(handle)
            finally:
                watch._current = None
                wall = time.monotonic() - began
                if wall >= watch.hold:
                    watch._write(serial, handle, began_wall, wall, time.thread_time() - began_cpu)
                elif serial in watch._samples:
                    with watch._lock:
                        watch._samples.pop(serial, None)

        self._original = original
        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        self._running = True
        threading.Thread(target=self._watchdog, name="loopwatch", daemon=True).start()

    def uninstall(self) -> None:
        """Put asyncio's own ``Handle._run`` back and stop the watchdog."""
        self._running = False
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Time each collection of the oldest generation (or any that holds the loop ``hold``)."""
        if phase == "start":
            self._gc_began = (time.time(), time.monotonic(), time.thread_time())
            return
        began_wall, began, began_cpu = self._gc_began
        wall = time.monotonic() - began
        if info["generation"] == 2 or wall >= self.hold:
            record: dict[str, Any] = {
                "t": round(began_wall, 4), "gc": info["generation"], "wall_ms": round(wall * 1000, 1),
                "cpu_ms": round((time.thread_time() - began_cpu) * 1000, 1), "collected": info["collected"],
                "thread": threading.current_thread().name}
            if info["generation"] == 2:  # what the collection had to traverse (frozen objects excepted)
                kept = gc.get_objects(2)
                record["objects"] = len(kept)
                record["types"] = Counter(type(o).__qualname__ for o in kept).most_common(TOP_TYPES)
                del kept
            self._emit(record)

    def _emit(self, record: dict[str, Any]) -> None:
        with self._write_lock:  # re-entrant: a collection may start inside a write
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()

    def _watchdog(self) -> None:
        while self._running:
            time.sleep(self.sample)
            current = self._current
            if current is None or time.monotonic() - current[1] < self.sample:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            stack = stack_of(frame)
            with self._lock:
                self._samples.setdefault(current[0], Counter())[stack] += 1

    def _write(self, serial: int, handle: asyncio.events.Handle, began: float, wall: float, cpu: float) -> None:
        with self._lock:
            samples = self._samples.pop(serial, Counter())
        callback = getattr(handle, "_callback", None)
        record = {"t": round(began, 4), "wall_ms": round(wall * 1000, 1), "cpu_ms": round(cpu * 1000, 1),
                  "what": describe(callback) if callback is not None else repr(handle),
                  "samples": sum(samples.values()),
                  "stacks": [{"n": n, "stack": s} for s, n in samples.most_common(KEPT_STACKS)]}
        self._emit(record)


def read_holds(path: Path) -> list[dict[str, Any]]:
    """The records a watch wrote (a half-written last line is skipped)."""
    holds: list[dict[str, Any]] = []
    if not path.exists():
        return holds
    for line in path.read_text().splitlines():
        try:
            holds.append(json.loads(line))
        except ValueError:
            continue
    return holds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.loopwatch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per callback that held the loop")
    parser.add_argument("--hold-ms", type=float, default=20.0, help="write callbacks that ran this long or longer")
    parser.add_argument("--sample-ms", type=float, default=5.0, help="stack sample interval while one runs")
    parser.add_argument("server_args", nargs=argparse.REMAINDER, help="-- then the notalabel arguments (serve ...)")
    args = parser.parse_args(argv)
    server_args = args.server_args[1:] if args.server_args[:1] == ["--"] else args.server_args
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # server.cli then runs asyncio.run
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    LoopWatch(out, args.hold_ms, args.sample_ms).install()
    from server.cli import main as serve  # noqa: PLC0415 - after the patch

    return serve(server_args)


if __name__ == "__main__":
    sys.exit(main())
