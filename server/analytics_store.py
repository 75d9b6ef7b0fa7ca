"""Writes and reads of the per-show analytics record (server/analytics_tables.py).

Every write is idempotent or additive by design: a sample is keyed by (show, period start)
and a second writer of the same period changes nothing; viewer, minute and chatter rows are
upserts that add what one node saw since it last wrote them (each event and each span of a
viewer's watching is drained from exactly one node's memory, so nothing is added twice). A
signed-in client without a ticket (``s:`` + its session token's hash) is stored as
``u:USER`` with its user id; a session the database no longer knows, as an anonymous client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server import analytics_tables as t
from server import tables as st
from server.audience import Watched
from server.engagement import Tally
from ticketing import tables as tt


@dataclass(frozen=True)
class Sample:
    show_id: str
    at: float
    webrtc: int
    hls: int
    nodes: int
    bitrate: int | None = None
    fps: float | None = None
    keyframe_ms: int | None = None
    reconnects: int | None = None
    dropped: int | None = None
    restreams: str = ""


class AnalyticsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._users: dict[str, int] = {}
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def add_sample(self, sample: Sample) -> bool:
        """Store one period's sample; False when that period was stored already."""
        stmt = self._insert(t.samples).values(**sample.__dict__).on_conflict_do_nothing()
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def add_watched(self, show_of: dict[str, str], watched: Sequence[Watched]) -> None:
        """Add each viewer's watch time to its show (``show_of``: room -> current show)."""
        mine = [w for w in watched if w.slug in show_of]
        users = await self._session_users({w.key[2:] for w in mine if w.key.startswith("s:")})
        rows = []
        for w in mine:
            key, user = w.key, w.user_id
            if key.startswith("s:"):  # a signed-in client without a ticket counts as its user
                user = users.get(key[2:])
                key = f"u:{user}" if user is not None else "a:" + key[2:26]
            rows.append({"show_id": show_of[w.slug], "viewer": key[:80], "user_id": user, "kind": w.kind,
                         "first_seen": w.first_seen, "last_seen": w.last_seen, "watch_s": w.seconds})
        if not rows:
            return
        ins = self._insert(t.viewers)
        c = t.viewers.c
        stmt = ins.on_conflict_do_update(
            index_elements=[c.show_id, c.viewer],
            set_={"watch_s": c.watch_s + ins.excluded.watch_s,
                  "last_seen": sa.func.max(c.last_seen, ins.excluded.last_seen) if self._sqlite
                  else sa.func.greatest(c.last_seen, ins.excluded.last_seen),
                  "kind": ins.excluded.kind, "user_id": sa.func.coalesce(c.user_id, ins.excluded.user_id)})
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def _session_users(self, hashes: set[str]) -> dict[str, int]:
        """The user of each session token hash (remembered: a viewer's key is written again
        every few periods); an unknown or expired session is not a user."""
        missing = sorted(hashes - self._users.keys())
        if missing:
            if len(self._users) > 100_000:
                self._users.clear()
            q = sa.select(st.sessions.c.token_hash, st.sessions.c.user_id).where(
                st.sessions.c.token_hash.in_(missing))
            async with self.engine.connect() as conn:
                self._users.update({row.token_hash: row.user_id for row in await conn.execute(q)})
        return {h: self._users[h] for h in hashes if h in self._users}

    @property
    def _sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def add_tallies(self, show_of: dict[str, str], tallies: dict[str, Tally]) -> None:
        minutes, chatters, marks = [], [], []
        for slug, tally in tallies.items():
            show = show_of.get(slug)
            if show is None:
                continue
            minutes += [{"show_id": show, "minute": m, "chat": v[0], "requests": v[1], "votes": v[2],
                         "moderation": v[3]} for m, v in tally.minutes.items()]
            chatters += [{"show_id": show, "user_id": u, "messages": n} for u, n in tally.chatters.items()]
            marks += [{"show_id": show, "ref": f"p:{ref}", "kind": "song", "at": at, "label": label}
                      for ref, (at, label) in tally.marks.items()]
            marks += [{"show_id": show, "ref": f"r:{ref}", "kind": "request", "at": at, "label": label}
                      for ref, (at, label) in tally.requested.items()]
            marks += [{"show_id": show, "ref": f"d:{ref}", "kind": "song_end", "at": at, "label": ""}
                      for ref, at in tally.ends.items()]
        async with self.engine.begin() as conn:
            await self._add(conn, t.minutes, ["show_id", "minute"], ["chat", "requests", "votes", "moderation"],
                            minutes)
            await self._add(conn, t.chatters, ["show_id", "user_id"], ["messages"], chatters)
            if marks:
                await conn.execute(self._insert(t.marks).on_conflict_do_nothing(), marks)

    async def _add(self, conn: AsyncConnection, table: sa.Table, keys: list[str], summed: list[str],
                   rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        ins = self._insert(table)
        stmt = ins.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                         set_={k: table.c[k] + ins.excluded[k] for k in summed})
        await conn.execute(stmt, rows)

    # --- reads ---------------------------------------------------------------------------

    async def samples(self, show_id: str) -> list[Sample]:
        q = sa.select(t.samples).where(t.samples.c.show_id == show_id).order_by(t.samples.c.at)
        async with self.engine.connect() as conn:
            return [Sample(**row._mapping) for row in await conn.execute(q)]

    async def viewers(self, show_id: str) -> list[dict[str, Any]]:
        q = sa.select(t.viewers).where(t.viewers.c.show_id == show_id).order_by(t.viewers.c.first_seen)
        return await self._rows(q)

    async def minutes(self, show_id: str) -> list[dict[str, Any]]:
        q = sa.select(t.minutes).where(t.minutes.c.show_id == show_id).order_by(t.minutes.c.minute)
        return await self._rows(q)

    async def chatters(self, show_id: str) -> list[dict[str, Any]]:
        q = sa.select(t.chatters).where(t.chatters.c.show_id == show_id).order_by(
            t.chatters.c.messages.desc(), t.chatters.c.user_id)
        return await self._rows(q)

    async def marks(self, show_id: str) -> list[dict[str, Any]]:
        q = sa.select(t.marks).where(t.marks.c.show_id == show_id).order_by(t.marks.c.at)
        return await self._rows(q)

    async def returning(self, show_id: str, room_id: int, user_ids: Iterable[int], before: float) -> int:
        """How many of ``user_ids`` watched an earlier show of the room (returning fans)."""
        ids = sorted(set(user_ids))
        if not ids:
            return 0
        q = (sa.select(sa.func.count(sa.distinct(t.viewers.c.user_id)))
             .select_from(t.viewers.join(tt.shows, tt.shows.c.id == t.viewers.c.show_id))
             .where(tt.shows.c.room_id == room_id, t.viewers.c.show_id != show_id,
                    t.viewers.c.first_seen < before, t.viewers.c.user_id.in_(ids)))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar_one())

    async def _rows(self, q: sa.Select[Any]) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(q)]
