"""Usernames that look like a taken one (UTS #39 skeleton) are refused at sign-up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from server import tables as t
from server.db import MIGRATIONS, make_engine, migrate
from server.usernames import confusables_keys
from tests.support.api import signup_login

LOOK_ALIKES = [("alice", "aIice"), ("alice", "ALICE"), ("alice", "ALlCE"), ("bob", "b0b"), ("money", "rnoney"),
               ("will", "wiII"), ("Iris", "lris"), ("admin", "adrnin"), ("fan1", "fanl"), ("fan1", "FANI"),
               ("Perf", "pERF"), ("alice", "AIice"), ("money", "rn0ney"), ("Alice", "aIicE")]
DIFFERENT = [("alice", "alicia"), ("bob", "bobby"), ("fan1", "fan2"), ("a.b.c", "a-b-c"), ("vvv", "www"),
             ("nail", "nall"), ("Nail", "Nall"), ("host1", "host2"), ("owner", "owner1")]


def conflicts(existing: str, new: str) -> bool:
    return bool(set(confusables_keys(existing)) & set(confusables_keys(new)))


@pytest.mark.parametrize(("existing", "new"), LOOK_ALIKES)
def test_look_alikes_conflict_both_ways(existing: str, new: str) -> None:
    assert conflicts(existing, new) and conflicts(new, existing)


@pytest.mark.parametrize(("existing", "new"), DIFFERENT)
def test_different_names_do_not(existing: str, new: str) -> None:
    assert not conflicts(existing, new) and not conflicts(new, existing)


async def test_sign_up_refuses_look_alikes(api: Any) -> None:
    await signup_login(api, "alice")
    await signup_login(api, "money")
    for name in ("aIice", "ALlCE", "rnoney"):
        r = await api.post("/api/accounts", json={"username": name, "password": "correct horse"})
        body = await r.json()
        assert r.status == 409 and body["error"] == "username_confusable", body
        assert "looks" in body["message"]
    r = await api.post("/api/accounts", json={"username": "Alice", "password": "correct horse"})
    assert r.status == 409 and (await r.json())["error"] == "username_taken"
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="username_confusable"}' in metrics
    await signup_login(api, "alicia")


def downgrade_to(sync_conn: sa.Connection, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    command.downgrade(cfg, revision)


async def test_migration_fills_the_keys_of_existing_users(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await migrate(engine, database_url)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade_to, "0004")
            # What an older server left behind: users, no keys yet. Upgrading fills them in.
            for name in ("OldTimer1", "oldtimerl", "fan"):
                await conn.execute(sa.text("INSERT INTO users (username, password_hash, created_at) "
                                           "VALUES (:name, 'x', 0)"), {"name": name})
        await migrate(engine, database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.username_keys.c.key, t.users.c.username).select_from(
                t.username_keys.join(t.users, t.users.c.id == t.username_keys.c.user_id)))).all()
        owners = {key: name for key, name in rows}
        assert owners["oldtirnerl"] == "OldTimer1"  # the older of two look-alikes keeps the key
        assert "fan" in owners.values() and len(rows) == len(owners)
    finally:
        await engine.dispose()


async def test_look_alikes_signing_up_at_once_cannot_both_win(api: Any) -> None:
    names = ["alice", "aIice", "Alice", "ALICE"]  # every two of them conflict
    answers = await asyncio.gather(*(api.post("/api/accounts", json={"username": n, "password": "correct horse"})
                                     for n in names))
    assert sorted(r.status for r in answers) == [201, 409, 409, 409]
