"""The OBS overlay key, page, read-only socket and test alert, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from aiohttp import WSMsgType
from alembic import command
from prometheus_client import REGISTRY

from server.db import _alembic_config, make_engine
from server.keys import SERVICES
from tests.support.api import make_room, signup_login


def denied() -> float:
    return REGISTRY.get_sample_value("nal_bad_input_total", {"kind": "overlay_key"}) or 0.0


async def next_of(ws: Any, type_: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.TEXT, (msg.type, msg.data)
        frame: dict[str, Any] = json.loads(msg.data)
        if frame["type"] == type_:
            return frame


async def test_only_the_owner_sees_and_rotates_the_key(api: Any) -> None:
    owner = await signup_login(api, "olga")
    fan = await signup_login(api, "fay")
    room = await make_room(api, owner)
    slug, key = room["slug"], room["overlay_key"]
    assert key.startswith("ovl_") and room["overlay_url"].endswith(f"/overlay/{slug}?key={key}")
    mine = await (await api.get(f"/api/rooms/{slug}", headers=owner)).json()
    assert mine["overlay_key"] == key
    for headers in (fan, {}):
        r = await api.get(f"/api/rooms/{slug}", headers=headers)
        assert key not in await r.text() and "overlay_key" not in await r.json()
    r = await api.post(f"/api/rooms/{slug}/overlay-key", headers=fan)
    assert r.status == 403 and (await r.json())["error"] == "forbidden"
    r = await api.post(f"/api/rooms/{slug}/overlay-key")
    assert r.status == 401
    r = await api.post(f"/api/rooms/{slug}/overlay-key", headers=owner)
    assert r.status == 200
    new = (await r.json())["overlay_key"]
    assert new != key and new.startswith("ovl_")
    assert (await api.get(f"/overlay/{slug}?key={new}")).status == 200
    assert (await api.get(f"/overlay/{slug}?key={key}")).status == 403  # the old key is dead


async def test_wrong_key_gets_nothing_and_is_counted(api: Any) -> None:
    owner = await signup_login(api, "olga")
    room = await make_room(api, owner, "Secret Title")
    slug, key = room["slug"], room["overlay_key"]
    r = await api.get(f"/overlay/{slug}?key={key}")
    assert r.status == 200 and "text/html" in r.headers["Content-Type"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    for path in (f"/overlay/{slug}", f"/overlay/{slug}?key=ovl_wrong", f"/overlay/nope?key={key}",
                 f"/overlay/{slug}?key={key}x"):
        before = denied()
        r = await api.get(path)
        body = await r.text()
        assert r.status == 403 and json.loads(body)["error"] == "bad_overlay_key", path
        assert "Secret Title" not in body and key not in body
        assert denied() == before + 1
    before = denied()
    r = await api.get(f"/ws/rooms/{slug}?key=ovl_wrong", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                                   "Sec-WebSocket-Version": "13",
                                                                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status == 403 and denied() == before + 1


async def test_overlay_socket_is_read_only_and_gets_tips_and_test_alerts(api: Any) -> None:
    owner = await signup_login(api, "olga")
    fan = await signup_login(api, "fay")
    room = await make_room(api, owner)
    slug, key = room["slug"], room["overlay_key"]
    ws = await api.ws_connect(f"/ws/rooms/{slug}?key={key}")
    assert (await next_of(ws, "snapshot"))["data"]["tips"] == []
    tip = {"id": "t1", "from": "fay", "amount": 500, "currency": "USD", "message": "hi"}
    await api.app[SERVICES].gateway.publish_system(slug, "tip", tip, "tip:t1")
    got = (await next_of(ws, "tip"))["data"]
    assert got == {**tip, "ts": got["ts"]}
    await ws.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "from the overlay"}))
    assert (await next_of(ws, "error"))["code"] == "forbidden"

    r = await api.post(f"/api/rooms/{slug}/overlay/test-alert", headers=fan)
    assert r.status == 403
    r = await api.post(f"/api/rooms/{slug}/overlay/test-alert", headers=owner,
                       json={"amount": 1234, "message": "testing"})
    assert r.status == 202
    alert = (await next_of(ws, "alert.test"))["data"]
    assert alert == {"id": (await r.json())["id"], "from": "olga", "amount": 1234, "currency": "USD",
                     "message": "testing"}
    r = await api.post(f"/api/rooms/{slug}/overlay/test-alert", headers=owner)
    assert r.status == 202 and (await next_of(ws, "alert.test"))["data"]["amount"] == 500
    r = await api.post(f"/api/rooms/{slug}/overlay/test-alert", headers=owner, json={"amount": "lots"})
    assert r.status == 400
    await ws.close()


async def test_migration_gives_existing_rooms_a_key(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        from server.db import async_url

        _sa, _args, schema = async_url(database_url)
        async with engine.begin() as conn:
            if schema:
                await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

        def upgrade(sync_conn: sa.Connection, target: str) -> None:
            cfg = _alembic_config()
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, target)

        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0003")
            await conn.execute(sa.text(
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'old', 'x', 0)"))
            for i in (1, 2):
                await conn.execute(sa.text(
                    "INSERT INTO rooms (slug, title, owner_id, stream_key_hash, created_at) "
                    f"VALUES ('r{i}', 'Old {i}', 1, 'h{i}', 0)"))
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "head")
            keys = (await conn.execute(sa.text("SELECT overlay_key FROM rooms ORDER BY id"))).scalars().all()
        assert len(keys) == 2 and len(set(keys)) == 2 and all(k.startswith("ovl_") for k in keys)
    finally:
        await engine.dispose()
