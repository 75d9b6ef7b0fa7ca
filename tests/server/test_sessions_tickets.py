"""Your sessions (list, end one) and single-use room socket tickets, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import drop_pg_schema, pg_url
from tests.support.api import make_room, signup_login
from tests.support.apps import sqlite_api
from tests.support.roomsocket import RoomSocket

PASSWORD = "correct horse"


async def second_login(api: Any, username: str) -> dict[str, str]:
    r = await api.post("/api/sessions", json={"username": username, "password": PASSWORD},
                       headers={"User-Agent": "second-browser/1.0"})
    assert r.status == 200
    api.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def ticket_for(api: Any, slug: str, headers: dict[str, str]) -> dict[str, Any]:
    r = await api.post(f"/api/rooms/{slug}/socket-ticket", headers=headers)
    assert r.status == 201, await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


async def refused(api: Any, slug: str, params: dict[str, str]) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.ws_connect(f"/ws/rooms/{slug}", params=params)
    return info.value.status


async def test_list_and_end_sessions(api: Any) -> None:
    first = await signup_login(api, "alice")
    second = await second_login(api, "alice")
    r = await api.get("/api/me/sessions", headers=first)
    text = await r.text()
    sessions = (await r.json())["sessions"]
    assert r.status == 200 and len(sessions) == 2
    for token in (first["Authorization"][7:], second["Authorization"][7:]):
        assert token not in text
    assert [s["current"] for s in sessions].count(True) == 1
    other = next(s for s in sessions if not s["current"])
    assert other["user_agent"] == "second-browser/1.0"
    assert set(other) >= {"id", "created_at", "last_seen_at", "expires_at"}
    datetime.fromisoformat(other["created_at"])
    # Someone else cannot end (or even find) alice's session.
    mallory = await signup_login(api, "mallory")
    r = await api.delete(f"/api/me/sessions/{other['id']}", headers=mallory)
    assert r.status == 404 and (await r.json())["error"] == "no_session"
    assert (await api.get("/api/me", headers=second)).status == 200
    r = await api.delete(f"/api/me/sessions/{other['id']}", headers=first)
    assert r.status == 204
    assert (await api.get("/api/me", headers=second)).status == 401
    assert (await api.get("/api/me", headers=first)).status == 200
    r = await api.delete(f"/api/me/sessions/{other['id']}", headers=first)
    assert r.status == 404
    assert (await api.get("/api/me/sessions")).status == 401


async def test_socket_ticket_is_single_use_and_bound_to_its_room(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    other_room = await make_room(api, owner, "Another Show")
    answer = await ticket_for(api, room["slug"], owner)
    assert answer["ticket"] and datetime.fromisoformat(answer["expires_at"]).tzinfo is not None
    assert owner["Authorization"][7:] not in answer["ticket"]
    ws = await api.ws_connect(f"/ws/rooms/{room['slug']}", params={"ticket": answer["ticket"]})
    sock = RoomSocket(ws)
    await sock.wait_for(lambda: sock.snapshot is not None)
    assert (await sock.op("chat.send", text="via ticket"))["type"] == "ack"  # signed in, not a guest
    await sock.close()
    assert await refused(api, room["slug"], {"ticket": answer["ticket"]}) == 401  # used up
    assert await refused(api, room["slug"], {"ticket": ""}) == 401
    wrong_room = await ticket_for(api, other_room["slug"], owner)
    assert await refused(api, room["slug"], {"ticket": wrong_room["ticket"]}) == 401
    r = await api.post(f"/api/rooms/{room['slug']}/socket-ticket")
    assert r.status == 401
    r = await api.post("/api/rooms/no-such-room/socket-ticket", headers=owner)
    assert r.status == 404
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="socket_ticket"}' in metrics


async def test_ending_a_session_ends_its_tickets(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    other = await second_login(api, "owner")
    unused = await ticket_for(api, room["slug"], other)
    sessions = (await (await api.get("/api/me/sessions", headers=owner)).json())["sessions"]
    other_id = next(s["id"] for s in sessions if not s["current"])
    assert (await api.delete(f"/api/me/sessions/{other_id}", headers=owner)).status == 204
    assert await refused(api, room["slug"], {"ticket": unused["ticket"]}) == 401


async def test_expired_ticket_and_ticket_cap(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await sqlite_api(aiohttp_client, tmp_path, socket_ticket_ttl_s=-1.0)
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    expired = await ticket_for(api, room["slug"], owner)
    assert await refused(api, room["slug"], {"ticket": expired["ticket"]}) == 401


async def test_unused_tickets_are_capped(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    for _ in range(20):
        await ticket_for(api, room["slug"], owner)
    r = await api.post(f"/api/rooms/{room['slug']}/socket-ticket", headers=owner)
    assert r.status == 429 and "Retry-After" in r.headers


@pytest.fixture
def pg_schema() -> Any:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


async def test_a_ticket_from_one_node_opens_a_socket_on_another(server_process: Any, pg_schema: str) -> None:
    a = server_process(database=pg_url(pg_schema))
    b = server_process(database=pg_url(pg_schema))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        r = await http.post(f"{a.url}/api/accounts", json={"username": "owner", "password": PASSWORD})
        assert r.status == 201
        r = await http.post(f"{a.url}/api/sessions", json={"username": "owner", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {(await r.json())['token']}"}
        r = await http.post(f"{a.url}/api/rooms", json={"title": "Two Nodes"}, headers=headers)
        slug = (await r.json())["slug"]
        r = await http.post(f"{a.url}/api/rooms/{slug}/socket-ticket", headers=headers)
        ticket = (await r.json())["ticket"]
        ws = await http.ws_connect(f"{b.ws_url}/ws/rooms/{slug}", params={"ticket": ticket})
        sock = RoomSocket(ws)
        await sock.wait_for(lambda: sock.snapshot is not None)
        assert (await sock.op("chat.send", text="hello from b"))["type"] == "ack"
        await sock.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{a.ws_url}/ws/rooms/{slug}", params={"ticket": ticket})
        assert info.value.status == 401
