"""SQL storage of rooms, hosts, songs, bans, timeouts and song votes; implements rooms.ports.RoomStore."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.group_commit import GroupCommit
from payments.store import lease
from rooms.ports import RoomInfo, Song
from server import tables as t
from server.db import DriverStatement, reads
from ticketing import tables as ticket_tables
from ticketing.db import Part, show_of, tier_of
from ticketing.model import Show, Tier

STREAM_KEY_PREFIX = "live_"
OVERLAY_KEY_PREFIX = "ovl_"


def new_stream_key() -> str:
    return STREAM_KEY_PREFIX + secrets.token_urlsafe(24)


def new_overlay_key() -> str:
    return OVERLAY_KEY_PREFIX + secrets.token_urlsafe(24)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def slugify(title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "room"
    return f"{base}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RoomRow:
    id: int
    slug: str
    title: str
    owner_id: int
    owner: str
    latency_class: str
    created_at: float
    description: str = ""
    image_at: float | None = None
    """When the room's image was last set (None: no image); it versions the image's URL."""
    record: bool = False
    """Its free streams (no show's tier covers them) are recorded too."""
    replay_access: str = "owner"
    """Who replays its recordings that no show's tier covers: ``owner`` (and hosts) or ``public``."""


@dataclass(frozen=True)
class TipRoom:
    """What a tip needs to know of its room and its fan, read in one statement."""

    room: RoomRow
    currency: str
    tip_min: int
    tip_max: int
    settings: dict[str, Any]
    banned: bool
    timed_out: bool
    """Whether ``user_id`` has a stored timeout in the room that has not run out."""
    split_sheet: str | None
    """The room's own split sheet as stored (``server.splits.sheet_of`` reads it)."""
    show_on: str | None = None
    """The room's show on now (``show_on_now``), whose money a tip joins."""


@dataclass(frozen=True)
class OrderView:
    """What an order needs to know of its show, its tier and its room, read in one statement."""

    show: Show
    tier: Tier | None
    room: RoomRow | None
    split_sheet: str | None
    """The room's own split sheet as stored (``server.splits.sheet_of`` reads it)."""


_ROOM_ROW_FIELDS = ("id", "slug", "title", "owner_id", "owner", "latency_class", "created_at", "description",
                    "image_at", "record", "replay_access")


def _prefixed(m: Any, prefix: str) -> dict[str, Any]:
    """The columns of ``m`` (a row by column name) named ``prefix`` + name, by name."""
    return {k[len(prefix):]: v for k, v in m.items() if k.startswith(prefix)}


def show_on_now(room_slug: Any, now: Any) -> sa.Select[Any]:
    """The id of the room's show on now (started, not ended; the latest started first)."""
    sh = ticket_tables.shows.c
    return (sa.select(sh.id).where(sh.room_slug == room_slug, sh.starts_at <= now,
                                   sa.or_(sh.ends_at.is_(None), sh.ends_at > now))
            .order_by(sh.starts_at.desc(), sh.id).limit(1))


class SqlStore:
    """Rooms and their people, in the foundation tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reads = reads(engine)
        self.is_pg = engine.dialect.name == "postgresql"
        self._tip_room: sa.Select[Any] | None = None
        self._tip_rooms_pg: DriverStatement | None = None
        self.tip_reads: GroupCommit[tuple[str, int], Any] = GroupCommit(self._tip_rooms_many)
        self._order_view: sa.Select[Any] | None = None
        self._order_view_pg: DriverStatement | None = None

    # -- rooms ---------------------------------------------------------------

    async def create_room(self, owner_id: int, title: str, latency_class: str) -> tuple[RoomRow, str]:
        key = new_stream_key()
        now = time.time()
        async with self.engine.begin() as conn:
            slug = slugify(title)
            result = await conn.execute(t.rooms.insert().values(
                slug=slug, title=title, owner_id=owner_id, stream_key_hash=key_hash(key),
                latency_class=latency_class, created_at=now, overlay_key=new_overlay_key(),
            ))
            key_row = result.inserted_primary_key
            assert key_row is not None
        row = await self.room_row(slug)
        assert row is not None
        return row, key

    async def rooms_owned(self, owner_id: int) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(t.rooms)
                                      .where(t.rooms.c.owner_id == owner_id))
        return int(count or 0)

    async def rotate_key(self, room_id: int) -> str:
        key = new_stream_key()
        async with self.engine.begin() as conn:
            await conn.execute(t.rooms.update().where(t.rooms.c.id == room_id).values(stream_key_hash=key_hash(key)))
        return key

    async def overlay_key(self, room_id: int) -> str:
        """The room's overlay key (a room from before keys existed gets one now)."""
        async with self.engine.connect() as conn:
            key = await conn.scalar(sa.select(t.rooms.c.overlay_key).where(t.rooms.c.id == room_id))
        return str(key) if key else await self.rotate_overlay_key(room_id)

    async def rotate_overlay_key(self, room_id: int) -> str:
        key = new_overlay_key()
        async with self.engine.begin() as conn:
            await conn.execute(t.rooms.update().where(t.rooms.c.id == room_id).values(overlay_key=key))
        return key

    def _room_select(self, source: Any = None) -> sa.Select[Any]:
        """The room's row; with ``source`` (a FROM with a ``slug`` column), the rooms it names."""
        rooms = t.rooms if source is None else source.join(t.rooms, t.rooms.c.slug == source.c.slug)
        return sa.select(
            t.rooms.c.id, t.rooms.c.slug, t.rooms.c.title, t.rooms.c.owner_id,
            t.users.c.username.label("owner"), t.rooms.c.latency_class, t.rooms.c.created_at,
            t.rooms.c.description, t.room_images.c.updated_at.label("image_at"),
            t.rooms.c.record, t.rooms.c.replay_access,
        ).select_from(rooms.join(t.users, t.users.c.id == t.rooms.c.owner_id)
                      .outerjoin(t.room_images, t.room_images.c.room_id == t.rooms.c.id))

    async def room_row(self, slug: str) -> RoomRow | None:
        async with self.reads.connect() as conn:
            row = (await conn.execute(self._room_select().where(t.rooms.c.slug == slug))).first()
        return RoomRow(**row._mapping) if row else None

    def _tip_room_select(self, source: Any = None) -> sa.Select[Any]:
        """``tip_room``'s statement: for one ``slug`` and ``user_id`` (bind parameters), or
        for each row of ``source`` (its ``slug`` and ``user_id`` columns)."""
        r, b, rt = t.rooms.c, t.room_bans.c, t.room_timeouts.c
        user_id = sa.bindparam("user_id") if source is None else source.c.user_id
        banned = sa.exists().where((b.room_id == r.id) & (b.user_id == user_id)).label("banned")
        timed_out = sa.exists().where((rt.room_id == r.id) & (rt.user_id == user_id)
                                      & (rt.until > sa.bindparam("now"))).label("timed_out")
        show_on = show_on_now(r.slug, sa.bindparam("now")).scalar_subquery().label("show_on")
        q = self._room_select(source).add_columns(
            r.currency, r.tip_min, r.tip_max, r.settings, r.split_sheet, banned, timed_out, show_on)
        return q.where(r.slug == sa.bindparam("slug")) if source is None else q.add_columns(source.c.i)

    async def tip_room(self, slug: str, user_id: int) -> TipRoom | None:
        """The room, its money settings and moderation settings, whether ``user_id`` is banned
        or timed out, and its show on now: one statement, one round trip. On PostgreSQL the
        reads that arrive while one runs go together in the next (``tip_reads``: one
        statement over arrays, so a busy room's tips share a round trip)."""
        m: Any
        if self.is_pg:
            m = await self.tip_reads.submit((slug, user_id))
        else:
            if self._tip_room is None:  # built once: building it cost more than running it
                self._tip_room = self._tip_room_select()
            async with self.reads.connect() as conn:
                row = (await conn.execute(self._tip_room, {"slug": slug, "user_id": user_id,
                                                           "now": time.time()})).first()
            m = row._mapping if row is not None else None
        if m is None:
            return None
        room = RoomRow(**{k: m[k] for k in ("id", "slug", "title", "owner_id", "owner", "latency_class", "created_at")})
        settings = json.loads(m["settings"] or "{}")
        sheet = m["split_sheet"]
        return TipRoom(room, m["currency"], m["tip_min"], m["tip_max"], settings if isinstance(settings, dict) else {},
                       bool(m["banned"]), bool(m["timed_out"]), sheet if isinstance(sheet, str) else None,
                       str(m["show_on"]) if m["show_on"] else None)

    async def _tip_rooms_many(self, asks: list[tuple[str, int]]) -> list[Any]:
        """``tip_room``'s rows for several (slug, user id) at once, on the driver: one SQL
        text for any number (the asks go as two arrays, numbered by ``WITH ORDINALITY``)."""
        if self._tip_rooms_pg is None:  # built and compiled once
            source = sa.func.unnest(
                sa.bindparam("slugs", type_=postgresql.ARRAY(sa.String)),
                sa.bindparam("user_ids", type_=postgresql.ARRAY(sa.Integer)),
            ).table_valued(sa.column("slug", sa.String), sa.column("user_id", sa.Integer),
                           with_ordinality="i").render_derived(name="q")
            self._tip_rooms_pg = DriverStatement(self._tip_room_select(source), self.engine)
        args = self._tip_rooms_pg.args({"slugs": [a[0] for a in asks], "user_ids": [a[1] for a in asks],
                                        "now": time.time()})
        async with lease(self.engine) as raw:
            rows = await raw.fetch(self._tip_rooms_pg.sql, *args)
        found: list[Any] = [None] * len(asks)
        for row in rows:
            found[row["i"] - 1] = row
        return found

    def _order_select(self) -> sa.Select[Any]:
        """The show, its tier ``tier_id`` and its room (as ``room_row`` reads it) with the
        room's split sheet; columns named ``s_``, ``t_`` and ``r_`` + the column's name."""
        sh, ti, r, u, img = ticket_tables.shows, ticket_tables.tiers, t.rooms, t.users, t.room_images
        room = (r.c.id, r.c.slug, r.c.title, r.c.owner_id, u.c.username.label("owner"), r.c.latency_class,
                r.c.created_at, r.c.description, img.c.updated_at.label("image_at"), r.c.record,
                r.c.replay_access, r.c.split_sheet)
        return (sa.select(*(c.label("s_" + c.name) for c in sh.c), *(c.label("t_" + c.name) for c in ti.c),
                          *(c.label("r_" + c.name) for c in room))
                .select_from(sh.outerjoin(ti, (ti.c.id == sa.bindparam("tier_id")) & (ti.c.show_id == sh.c.id))
                             .outerjoin(r, r.c.slug == sh.c.room_slug).outerjoin(u, u.c.id == r.c.owner_id)
                             .outerjoin(img, img.c.room_id == r.c.id))
                .where(sh.c.id == sa.bindparam("show_id")))

    async def order_view(self, show_id: str, tier_id: str) -> OrderView | None:
        """An order's show, tier and room in one statement (None: no such show; a missing tier
        or room is None in it). Every order reads this: on PostgreSQL on the driver."""
        if self._order_view is None:  # built once
            self._order_view = self._order_select()
            self._order_view_pg = DriverStatement(self._order_view, self.engine) if self.is_pg else None
        values = {"show_id": show_id, "tier_id": tier_id}
        m: Any
        if self._order_view_pg is not None:
            m = await self._order_view_pg.fetchrow(self.engine, values)
        else:
            async with self.reads.connect() as conn:
                row = (await conn.execute(self._order_view, values)).first()
            m = row._mapping if row is not None else None
        if m is None:
            return None
        tier = tier_of(Part(_prefixed(m, "t_"))) if m["t_id"] is not None else None
        rm = _prefixed(m, "r_")
        room = RoomRow(**{k: rm[k] for k in _ROOM_ROW_FIELDS}) if rm["id"] is not None and rm["owner"] is not None \
            else None
        sheet = rm["split_sheet"]
        return OrderView(show_of(Part(_prefixed(m, "s_"))), tier, room, sheet if isinstance(sheet, str) else None)

    async def room_by_stream_key(self, key: str) -> RoomRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                self._room_select().where(t.rooms.c.stream_key_hash == key_hash(key))
            )).first()
        return RoomRow(**row._mapping) if row else None

    async def list_rooms(self, limit: int = 100) -> list[RoomRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(self._room_select().order_by(t.rooms.c.id.desc()).limit(limit))).all()
        return [RoomRow(**r._mapping) for r in rows]

    async def set_description(self, room_id: int, description: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.rooms.update().where(t.rooms.c.id == room_id).values(description=description))

    async def set_recording(self, room_id: int, values: dict[str, Any]) -> None:
        """Set ``record`` and/or ``replay_access`` (checked by the caller)."""
        async with self.engine.begin() as conn:
            await conn.execute(t.rooms.update().where(t.rooms.c.id == room_id).values(**values))

    async def set_image(self, room_id: int, content_type: str, data: bytes) -> None:
        """Set (or replace) the room's image in one transaction."""
        async with self.engine.begin() as conn:
            await conn.execute(t.room_images.delete().where(t.room_images.c.room_id == room_id))
            await conn.execute(t.room_images.insert().values(
                room_id=room_id, content_type=content_type, data=data, updated_at=time.time()))

    async def delete_image(self, room_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(t.room_images.delete().where(t.room_images.c.room_id == room_id))
        return bool(result.rowcount)

    async def image(self, room_id: int) -> tuple[str, bytes] | None:
        """The room's image: its content type and bytes."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.room_images.c.content_type, t.room_images.c.data)
                                      .where(t.room_images.c.room_id == room_id))).first()
        return (str(row.content_type), bytes(row.data)) if row else None

    # -- RoomStore protocol ----------------------------------------------------

    async def room(self, slug: str) -> RoomInfo | None:
        row = await self.room_row(slug)
        if row is None:
            return None
        hosts = await self.host_ids(row.id)
        return RoomInfo(row.id, row.slug, row.title, row.owner_id, frozenset(hosts), True)

    async def user_id(self, username: str) -> int | None:
        async with self.engine.connect() as conn:
            value = await conn.scalar(sa.select(t.users.c.id).where(t.users.c.username == username))
        return int(value) if value is not None else None

    async def banned_user_ids(self, room_id: int) -> set[int]:
        async with self.engine.connect() as conn:
            rows = await conn.scalars(sa.select(t.room_bans.c.user_id).where(t.room_bans.c.room_id == room_id))
            return set(rows)

    async def set_ban(self, room_id: int, user_id: int, by_user_id: int, banned: bool) -> None:
        where = (t.room_bans.c.room_id == room_id) & (t.room_bans.c.user_id == user_id)
        async with self.engine.begin() as conn:
            await conn.execute(t.room_bans.delete().where(where))
            if banned:
                await conn.execute(t.room_bans.insert().values(
                    room_id=room_id, user_id=user_id, banned_by=by_user_id, created_at=time.time()))

    async def timeouts(self, room_id: int, now: float) -> dict[int, float]:
        rt = t.room_timeouts
        async with self.engine.begin() as conn:
            await conn.execute(rt.delete().where((rt.c.room_id == room_id) & (rt.c.until <= now)))
            rows = await conn.execute(sa.select(rt.c.user_id, rt.c.until).where(rt.c.room_id == room_id))
            return {row.user_id: row.until for row in rows}

    async def set_timeout(self, room_id: int, user_id: int, by_user_id: int, until: float | None) -> None:
        rt = t.room_timeouts
        async with self.engine.begin() as conn:
            await conn.execute(rt.delete().where((rt.c.room_id == room_id) & (rt.c.user_id == user_id)))
            if until is not None:
                await conn.execute(rt.insert().values(
                    room_id=room_id, user_id=user_id, until=until, timed_out_by=by_user_id, created_at=time.time()))

    async def song_voters(self, room_id: int) -> dict[str, set[int]]:
        sv = t.song_votes
        voters: dict[str, set[int]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(sa.select(sv.c.request_id, sv.c.user_id).where(sv.c.room_id == room_id)):
                voters.setdefault(row.request_id, set()).add(row.user_id)
        return voters

    async def add_vote(self, room_id: int, request_id: str, user_id: int) -> bool:
        """Store one vote; False when it was stored before (the primary key decides, so two
        nodes taking the same vote at once store it once)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(t.song_votes.insert().values(
                    room_id=room_id, request_id=request_id, user_id=user_id, created_at=time.time()))
        except sa.exc.IntegrityError:
            return False
        return True

    async def remove_vote(self, room_id: int, request_id: str, user_id: int) -> None:
        sv = t.song_votes
        async with self.engine.begin() as conn:
            await conn.execute(sv.delete().where(
                (sv.c.room_id == room_id) & (sv.c.request_id == request_id) & (sv.c.user_id == user_id)))

    async def forget_votes(self, room_id: int, request_ids: tuple[str, ...]) -> None:
        sv = t.song_votes
        async with self.engine.begin() as conn:
            await conn.execute(sv.delete().where((sv.c.room_id == room_id) & sv.c.request_id.in_(request_ids)))

    async def song(self, room_id: int, song_id: int) -> Song | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.songs.c.id, t.songs.c.title, t.songs.c.artist).where(
                (t.songs.c.room_id == room_id) & (t.songs.c.id == song_id)))).first()
        return Song(row.id, row.title, row.artist) if row else None

    async def load_settings(self, room_id: int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            raw = await conn.scalar(sa.select(t.rooms.c.settings).where(t.rooms.c.id == room_id))
        value = json.loads(raw or "{}")
        return value if isinstance(value, dict) else {}

    async def save_settings(self, room_id: int, settings: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(t.rooms.update().where(t.rooms.c.id == room_id).values(settings=json.dumps(settings)))

    # -- hosts -------------------------------------------------------------------

    async def host_ids(self, room_id: int) -> set[int]:
        async with self.engine.connect() as conn:
            rows = await conn.scalars(sa.select(t.room_hosts.c.user_id).where(t.room_hosts.c.room_id == room_id))
            return set(rows)

    async def host_names(self, room_id: int) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.scalars(
                sa.select(t.users.c.username)
                .select_from(t.room_hosts.join(t.users, t.users.c.id == t.room_hosts.c.user_id))
                .where(t.room_hosts.c.room_id == room_id).order_by(t.users.c.username))
            return list(rows)

    async def add_host(self, room_id: int, user_id: int) -> bool:
        async with self.engine.begin() as conn:
            exists = await conn.scalar(sa.select(t.room_hosts.c.user_id).where(
                (t.room_hosts.c.room_id == room_id) & (t.room_hosts.c.user_id == user_id)))
            if exists is not None:
                return False
            await conn.execute(t.room_hosts.insert().values(room_id=room_id, user_id=user_id, created_at=time.time()))
            return True

    async def remove_host(self, room_id: int, user_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(t.room_hosts.delete().where(
                (t.room_hosts.c.room_id == room_id) & (t.room_hosts.c.user_id == user_id)))
            return bool(result.rowcount)

    # -- song catalog ------------------------------------------------------------

    async def songs(self, room_id: int, after_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The catalog in id order: songs with an id above ``after_id``, at most ``limit``."""
        query = (sa.select(t.songs).where((t.songs.c.room_id == room_id) & (t.songs.c.id > after_id))
                 .order_by(t.songs.c.id).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_song_dict(r._mapping) for r in rows]

    async def add_song(self, room_id: int, song: dict[str, Any], max_songs: int = 0) -> dict[str, Any] | None:
        """Add a song; None (and nothing added) when the catalog already holds ``max_songs``."""
        async with self.engine.begin() as conn:
            if max_songs > 0:
                held = await conn.scalar(sa.select(sa.func.count()).select_from(t.songs)
                                         .where(t.songs.c.room_id == room_id))
                if int(held or 0) >= max_songs:
                    return None
            result = await conn.execute(t.songs.insert().values(
                room_id=room_id, title=song["title"], artist=song["artist"], iswc=song["iswc"],
                writers=json.dumps(song["writers"]), created_at=time.time()))
            key = result.inserted_primary_key
            assert key is not None
            row = (await conn.execute(sa.select(t.songs).where(t.songs.c.id == key[0]))).one()
        return _song_dict(row._mapping)

    async def update_song(self, room_id: int, song_id: int, song: dict[str, Any]) -> dict[str, Any] | None:
        values = {k: (json.dumps(v) if k == "writers" else v) for k, v in song.items()}
        where = (t.songs.c.room_id == room_id) & (t.songs.c.id == song_id)
        async with self.engine.begin() as conn:
            if values:
                await conn.execute(t.songs.update().where(where).values(**values))
            row = (await conn.execute(sa.select(t.songs).where(where))).first()
        return _song_dict(row._mapping) if row else None

    async def delete_song(self, room_id: int, song_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(t.songs.delete().where(
                (t.songs.c.room_id == room_id) & (t.songs.c.id == song_id)))
            return bool(result.rowcount)


def _song_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "title": row["title"], "artist": row["artist"], "iswc": row["iswc"],
        "writers": json.loads(row["writers"] or "[]"),
    }
