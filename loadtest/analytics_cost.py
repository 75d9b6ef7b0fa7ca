"""What recording show analytics costs in CPU: ``python -m loadtest.analytics_cost``.

Drives the recorder's own code paths in one process, without the HTTP server around them,
and reports CPU seconds per second (a share of one core):

* every LL-HLS viewer asks for the playlist every ``--fetch-s`` (LL-HLS players fetch once
  per part): the viewer's key (``client_key_of``: a SHA-256 of address and User-Agent, cached
  per client) and ``Audience.hls_seen``;
* ``--chat`` messages per second through ``Engagement.record``;
* once per ``--period`` seconds: the counts, the drain, and the store's batched upserts of
  the watch time of the viewers due (joined, left, or every ``--write-every`` periods) and the tallies into a real database (SQLite by default, or
  ``--database postgresql://...``), plus one sample.

The fan-out benchmark (``loadtest.fanout --server-arg=--analytics-sample-s=0`` against the
default) measures the same thing end to end; this one separates it from the machine's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from server import tables
from server.analytics import WRITE_EVERY, client_key_of
from server.analytics_store import AnalyticsStore, Sample
from server.audience import Audience
from server.db import make_engine, migrate
from server.engagement import Engagement
from server.store import SqlStore
from ticketing.service import Ticketing


async def run(viewers: int, fetch_s: float, chat: float, period: float, periods: int, database: str,
              write_every: int = WRITE_EVERY) -> dict[str, float]:
    engine = make_engine(database)
    await migrate(engine, database)
    async with engine.begin() as conn:
        user = (await conn.execute(tables.users.insert().values(username="bench", password_hash="-",
                                                                 created_at=time.time()))).inserted_primary_key[0]
    room, _key = await SqlStore(engine).create_room(int(user), "bench", "standard")
    ticketing = Ticketing(engine, 600)
    show = await ticketing.catalog.create_show(room.id, room.slug, {"title": "Bench", "starts_at": time.time(),
                                                            "ends_at": None, "currency": "USD", "replay_hours": 0})
    store = AnalyticsStore(engine)
    audience, engagement = Audience(6.0, write_every=write_every), Engagement()
    agents = [f"player/{i}" for i in range(viewers)]
    fetches = int(viewers * period / fetch_s)
    messages = int(chat * period)
    spent = {"fetches": 0.0, "chat": 0.0, "period": 0.0}
    now = time.time()
    for p in range(periods):
        start = time.process_time()
        for i in range(fetches):
            audience.hls_seen(room.slug, client_key_of("10.0.0.1", agents[i % viewers], ""), None,
                              now + p * period + i * period / fetches)
        spent["fetches"] += time.process_time() - start
        start = time.process_time()
        for i in range(messages):
            engagement.record(room.slug, "chat.message", {"user": {"id": i % 500}, "text": "hi"}, now + p * period)
        spent["chat"] += time.process_time() - start
        start = time.process_time()
        at = now + (p + 1) * period
        counts = audience.counts(at)
        watched = audience.drain(at, lambda *_: True)
        await store.add_watched({room.slug: show.id}, watched)
        await store.add_tallies({room.slug: show.id}, engagement.drain())
        here = counts.get(room.slug, {"webrtc": 0, "hls": 0})
        await store.add_sample(Sample(show.id, at, here["webrtc"], here["hls"], 1))
        spent["period"] += time.process_time() - start
    await engine.dispose()
    wall = periods * period
    return {k: v / wall for k, v in spent.items()} | {"total": sum(spent.values()) / wall}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.analytics_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--viewers", type=int, default=10_000)
    p.add_argument("--fetch-s", type=float, default=1.0, help="seconds between a viewer's playlist fetches")
    p.add_argument("--chat", type=float, default=50.0, help="chat messages per second")
    p.add_argument("--period", type=float, default=10.0, help="--analytics-sample-s")
    p.add_argument("--periods", type=int, default=6)
    p.add_argument("--database", default="")
    p.add_argument("--write-every", type=int, default=WRITE_EVERY,
                   help="periods between writes of a watching viewer's time (1: every period, as before)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = a.database or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        share = asyncio.run(run(a.viewers, a.fetch_s, a.chat, a.period, a.periods, database, a.write_every))
    print(f"{a.viewers:,} LL-HLS viewers fetching every {a.fetch_s} s, {a.chat:g} chat messages/s, "
          f"{a.period:g} s periods, watch time written every {a.write_every}, {database.split(':')[0]}:")
    for name, value in share.items():
        print(f"  {name:8} {value:.2%} of a core")


if __name__ == "__main__":
    main()
