"""SqlStore keeps room timeouts with their expiry and who voted for which song request,
on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from server import tables as t
from server.db import make_engine, migrate
from server.store import SqlStore


async def _store(database_url: str) -> tuple[SqlStore, int, list[int]]:
    engine = make_engine(database_url)
    await migrate(engine, database_url)
    users = []
    async with engine.begin() as conn:
        for name in ("olga", "fay", "finn"):
            result = await conn.execute(t.users.insert().values(username=name, password_hash="x", created_at=time.time()))
            users.append(int(result.inserted_primary_key[0]))
    store = SqlStore(engine)
    room, _key = await store.create_room(users[0], "Olga live", "standard")
    return store, room.id, users


async def test_timeouts_are_kept_until_they_expire(database_url: str) -> None:
    store, room, (olga, fay, finn) = await _store(database_url)
    try:
        await store.set_timeout(room, fay, olga, 1000.0)
        await store.set_timeout(room, finn, olga, 2000.0)
        assert await store.timeouts(room, 500.0) == {fay: 1000.0, finn: 2000.0}
        await store.set_timeout(room, fay, olga, 3000.0)  # a new timeout replaces the old
        assert await store.timeouts(room, 500.0) == {fay: 3000.0, finn: 2000.0}
        assert await store.timeouts(room, 2500.0) == {fay: 3000.0}  # finn's has expired
        assert await store.timeouts(room, 0.0) == {fay: 3000.0}  # and was deleted
        await store.set_timeout(room, fay, olga, None)
        assert await store.timeouts(room, 0.0) == {}
    finally:
        await store.engine.dispose()


async def test_votes_are_stored_once_and_forgotten_with_their_request(database_url: str) -> None:
    store, room, (_olga, fay, finn) = await _store(database_url)
    try:
        assert await store.add_vote(room, "r1", fay)
        assert not await store.add_vote(room, "r1", fay)  # the same vote again: refused
        assert await store.add_vote(room, "r1", finn)
        assert await store.add_vote(room, "r2", fay)
        assert await store.song_voters(room) == {"r1": {fay, finn}, "r2": {fay}}
        await store.remove_vote(room, "r1", finn)  # its event could not be published
        assert await store.song_voters(room) == {"r1": {fay}, "r2": {fay}}
        await store.forget_votes(room, ("r1",))
        assert await store.song_voters(room) == {"r2": {fay}}
    finally:
        await store.engine.dispose()
