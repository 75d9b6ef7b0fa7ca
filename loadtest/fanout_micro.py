"""The fan-out hot path alone, in CPU time: ``python -m loadtest.fanout_micro``.

Publishes events through one ``RoomHub`` to ``--sockets`` ``SocketWriter``s whose transports
only count bytes (no system calls, no network), ``--per-iteration`` at a time, waits for the
flusher to write them (sleeping through its pace: process CPU time only), and reports
the server-side Python cost per delivery in process CPU time. Independent of how busy the
machine is, so it is the number to compare before and after a change to rooms/fanout.py
or rooms/hub.py. Real sockets add the kernel's cost of one write per socket per flush.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from rooms.core import RoomState
from rooms.events import Event
from rooms.fanout import SocketWriter, ws_frame
from rooms.history import History
from rooms.hub import Member, RoomHub
from rooms.ports import RoomInfo
from rooms.protocol import WireFormat


class CountingTransport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass


class OpenSocket:
    closed = False


async def measure(sockets: int, events: int, per_iteration: int) -> dict[str, float]:
    hub = RoomHub("bench", RoomState(RoomInfo(1, "bench", "bench", owner_id=1)), History(1000, 120.0),
                  lambda _slug: None)
    hub._buffered = None
    hub.history.reset("e1", 0)
    transports = [CountingTransport() for _ in range(sockets)]
    for transport in transports:
        ws: Any = OpenSocket()
        writer = SocketWriter(ws, WireFormat.JSON, 512, transport)  # type: ignore[arg-type]
        writer.start()
        hub.add(Member(writer, None, False))
    text = "t=0 w=0 c=0 n=0 " + "x" * 48
    expected = 0  # bytes every socket has had once the events so far are out
    started = time.process_time()
    seq = 0
    while seq < events:
        for _ in range(per_iteration):
            seq += 1
            data = {"id": f"m{seq}", "user": {"name": "fan", "role": "fan"}, "text": text, "ts": 0.0}
            event = Event("chat.message", seq, "e1", data)
            expected += len(ws_frame(event.json_text))
            hub.on_event(event)
        while transports[-1].written < expected:  # noqa: ASYNC110 - the flusher runs when its pace allows
            await asyncio.sleep(0.001)  # process CPU time only: waiting costs nothing
    cpu = time.process_time() - started
    deliveries = sockets * events
    assert sum(t.written for t in transports) > 0
    return {"deliveries": deliveries, "cpu_s": cpu, "ns_per_delivery": cpu / deliveries * 1e9,
            "deliveries_per_cpu_s": deliveries / cpu}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.fanout_micro", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=10_000)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--per-iteration", type=int, default=1, help="events published per loop iteration")
    a = p.parse_args(argv)
    import uvloop

    r = uvloop.run(measure(a.sockets, a.events, a.per_iteration))
    print(f"{a.sockets} sockets x {a.events} events ({a.per_iteration} per loop iteration):"
          f" {r['ns_per_delivery']:.0f} ns of CPU per delivery, {r['deliveries_per_cpu_s']:,.0f} deliveries per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
