"""SQL storage of restream targets; stream keys go in sealed and come out masked.

Only :meth:`TargetStore.spec` opens a key, for the publisher that needs it; every other
read carries the masked hint alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.destination import DestinationPolicy
from relay.errors import ForbiddenDestination, TargetConfigError, TooManyTargets
from relay.keybox import KeyBox, mask
from relay.presets import Platform, check_url, parse_platform, resolve_ingest
from relay.tables import restream_targets as rt
from relay.tables import rooms

MAX_KEY = 300
MAX_TARGETS_PER_ROOM = 5


@dataclass(frozen=True, slots=True)
class TargetRow:
    """A target as stored, without its key."""

    id: int
    room_id: int
    platform: Platform
    ingest: str
    url: str
    key_hint: str
    enabled: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """What a publisher needs: the row plus the opened key (never in repr)."""

    row: TargetRow
    slug: str
    key: str = field(repr=False)

    @property
    def id(self) -> int:
        return self.row.id


def check_key(value: object) -> str:
    """A stream key: 1 to 300 printable characters without spaces."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY:
        raise TargetConfigError(f"'key' must be a string of 1 to {MAX_KEY} characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise TargetConfigError("'key' must not contain spaces or control characters")
    return value


def _row(r: Any) -> TargetRow:
    m = r._mapping
    return TargetRow(m["id"], m["room_id"], Platform(m["platform"]), m["ingest"], m["url"],
                     m["key_hint"], bool(m["enabled"]), m["created_at"], m["updated_at"])


class TargetStore:
    """Restream targets of every room.

    ``policy`` (:mod:`relay.destination`) refuses URLs naming a forbidden address or our own
    listener when a target is saved; the supervisor applies it again to what the host
    resolves to when it connects. A room holds at most ``max_per_room`` targets, so one
    upload fans out to a bounded number of connections.
    """

    def __init__(self, engine: AsyncEngine, box: KeyBox, *, policy: DestinationPolicy | None = None,
                 max_per_room: int = MAX_TARGETS_PER_ROOM) -> None:
        self.engine = engine
        self.policy = policy or DestinationPolicy()
        self.max_per_room = max_per_room
        self._box = box

    async def create(self, room_id: int, platform: object, key: object, *, url: str | None = None,
                     ingest: str | None = None, enabled: bool = True) -> TargetRow:
        plat = parse_platform(platform)
        choice, server_url = self._resolve(plat, ingest, url)
        secret = check_key(key)
        now = time.time()
        async with self.engine.begin() as conn:
            # Lock the room (PostgreSQL), insert, then count: two concurrent creates cannot
            # both pass the limit (on SQLite the insert holds the write lock until commit).
            await conn.execute(sa.select(rooms.c.id).where(rooms.c.id == room_id).with_for_update())
            result = await conn.execute(rt.insert().values(
                room_id=room_id, platform=plat.value, ingest=choice, url=server_url,
                key_sealed=self._box.seal(secret, room_id), key_hint=mask(secret),
                enabled=enabled, created_at=now, updated_at=now))
            count = await conn.scalar(sa.select(sa.func.count()).select_from(rt).where(rt.c.room_id == room_id))
            if (count or 0) > self.max_per_room:
                raise TooManyTargets(f"a room has at most {self.max_per_room} restream targets")
            pk = result.inserted_primary_key
            assert pk is not None
            row = (await conn.execute(sa.select(rt).where(rt.c.id == pk[0]))).one()
        return _row(row)

    def _resolve(self, platform: Platform, ingest: str | None, url: str | None) -> tuple[str, str]:
        """(ingest choice, server URL), refusing a URL the destination policy forbids."""
        choice, server_url = resolve_ingest(platform, ingest, url)
        host, port = check_url(server_url)
        rule = self.policy.refusal_for_host(host, port)
        if rule is not None:
            raise ForbiddenDestination(
                "this destination is not allowed: restream targets may not point at loopback, private, "
                "link-local, multicast or reserved addresses, nor at this server itself", rule)
        return choice, server_url

    async def for_room(self, room_id: int) -> list[TargetRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(rt).where(rt.c.room_id == room_id).order_by(rt.c.id))).all()
        return [_row(r) for r in rows]

    async def get(self, room_id: int, target_id: int) -> TargetRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(rt).where(
                (rt.c.room_id == room_id) & (rt.c.id == target_id)))).first()
        return _row(row) if row else None

    async def update(self, room_id: int, target_id: int, changes: dict[str, Any]) -> TargetRow | None:
        """Apply ``enabled``, ``key``, ``platform``, ``ingest``, ``url`` from ``changes``."""
        current = await self.get(room_id, target_id)
        if current is None:
            return None
        values: dict[str, Any] = {"updated_at": time.time()}
        if "enabled" in changes:
            if not isinstance(changes["enabled"], bool):
                raise TargetConfigError("'enabled' must be true or false")
            values["enabled"] = changes["enabled"]
        if "key" in changes:
            secret = check_key(changes["key"])
            values["key_sealed"] = self._box.seal(secret, room_id)
            values["key_hint"] = mask(secret)
        if {"platform", "ingest", "url"} & changes.keys():
            values.update(self._where_to(current, changes))
        async with self.engine.begin() as conn:
            await conn.execute(rt.update().where((rt.c.room_id == room_id) & (rt.c.id == target_id)).values(**values))
        return await self.get(room_id, target_id)

    def _where_to(self, current: TargetRow, changes: dict[str, Any]) -> dict[str, Any]:
        plat = parse_platform(changes.get("platform", current.platform))
        same = plat is current.platform
        url, ingest = changes.get("url"), changes.get("ingest")
        if plat is Platform.CUSTOM and url is None and same:
            url = current.url
        if plat is not Platform.CUSTOM and ingest is None and same:
            ingest = current.ingest
        if not isinstance(url, str | None) or not isinstance(ingest, str | None):
            raise TargetConfigError("'url' and 'ingest' must be strings")
        choice, server_url = self._resolve(plat, ingest, url)
        return {"platform": plat.value, "ingest": choice, "url": server_url}

    async def delete(self, room_id: int, target_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(rt.delete().where((rt.c.room_id == room_id) & (rt.c.id == target_id)))
            return bool(result.rowcount)

    async def specs(self, slug: str, *, enabled_only: bool = True) -> list[TargetSpec]:
        """The targets of the room ``slug`` with their keys opened, for publishing."""
        query = sa.select(rt, rooms.c.slug).select_from(rt.join(rooms, rooms.c.id == rt.c.room_id)).where(
            rooms.c.slug == slug).order_by(rt.c.id)
        if enabled_only:
            query = query.where(rt.c.enabled == sa.true())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [TargetSpec(_row(r), slug, self._box.open(r.key_sealed, r.room_id)) for r in rows]

    async def spec(self, target_id: int) -> TargetSpec | None:
        """One target with its key opened, or None if it was deleted."""
        query = sa.select(rt, rooms.c.slug).select_from(rt.join(rooms, rooms.c.id == rt.c.room_id)).where(
            rt.c.id == target_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return TargetSpec(_row(row), row.slug, self._box.open(row.key_sealed, row.room_id))
