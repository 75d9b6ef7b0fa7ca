"""Two server processes sharing one Redis and one PostgreSQL: one room, one order, bans everywhere."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import REDIS_URL, drop_pg_schema, pg_url
from tests.support.redis_server import RedisServer
from tests.support.roomsocket import RoomSocket

PASSWORD = "correct horse"


async def account(session: aiohttp.ClientSession, base: str, name: str) -> str:
    r = await session.post(f"{base}/api/accounts", json={"username": name, "password": PASSWORD})
    assert r.status == 201, await r.text()
    r = await session.post(f"{base}/api/sessions", json={"username": name, "password": PASSWORD})
    token: str = (await r.json())["token"]
    session.cookie_jar.clear()
    return token


@pytest.fixture
def pg_schema() -> Any:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def two_nodes(server_process: Any, schema: str, redis_url: str, prefix: str) -> tuple[Any, Any]:
    common = {"database": pg_url(schema), "redis": redis_url, "redis_prefix": prefix}
    return server_process(**common), server_process(**common)


async def setup_room(http: aiohttp.ClientSession, a: Any) -> tuple[str, dict[str, str]]:
    tokens = {name: await account(http, a.url, name) for name in ("owner", "fan1", "fan2", "host1")}
    r = await http.post(f"{a.url}/api/rooms", json={"title": "Cluster"},
                        headers={"Authorization": f"Bearer {tokens['owner']}"})
    slug: str = (await r.json())["slug"]
    r = await http.post(f"{a.url}/api/rooms/{slug}/hosts", json={"username": "host1"},
                        headers={"Authorization": f"Bearer {tokens['owner']}"})
    assert r.status == 201
    return slug, tokens


async def test_chat_crosses_nodes_in_one_order(server_process: Any, pg_schema: str, redis_prefix: str,
                                               http: aiohttp.ClientSession) -> None:
    a, b = two_nodes(server_process, pg_schema, REDIS_URL, redis_prefix)
    slug, tokens = await setup_room(http, a)
    fan1 = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan1"])
    fan2 = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"])
    guest = await RoomSocket.connect(http, b.ws_url, slug)
    sent = []
    for i in range(6):
        sock = fan1 if i % 2 == 0 else fan2
        reply = await sock.op("chat.send", text=f"hello {i}")
        assert reply["type"] == "ack", reply
        sent.append(f"hello {i}")
    for sock in (fan1, fan2, guest):
        await sock.wait_for(lambda s=sock: len(s.texts()) >= 6)
    assert fan1.texts() == fan2.texts() == guest.texts()
    assert sorted(fan1.texts()) == sorted(sent)
    seqs = [e["seq"] for e in fan1.of_type("chat.message")]
    assert seqs == sorted(seqs)
    assert [e["seq"] for e in fan2.of_type("chat.message")] == seqs
    reply = await guest.op("chat.send", text="guests cannot chat")
    assert reply["type"] == "error"
    for sock in (fan1, fan2, guest):
        await sock.close()


async def test_reconnect_recovers_exactly_what_was_missed(server_process: Any, pg_schema: str, redis_prefix: str,
                                                          http: aiohttp.ClientSession) -> None:
    a, b = two_nodes(server_process, pg_schema, REDIS_URL, redis_prefix)
    slug, tokens = await setup_room(http, a)
    fan1 = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan1"])
    fan2 = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"])
    assert (await fan1.op("chat.send", text="before"))["type"] == "ack"
    await fan2.wait_for(lambda: "before" in fan2.texts())
    last = fan2.events[-1]
    await fan2.close()
    for i in range(5):
        assert (await fan1.op("chat.send", text=f"missed {i}"))["type"] == "ack"
    back = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan2"], since=last["seq"], epoch=last["epoch"])
    await back.wait_for(lambda: len(back.texts()) >= 5)
    assert back.snapshot is not None and back.snapshot["type"] == "recovered"
    assert back.texts() == [f"missed {i}" for i in range(5)]
    seqs = [e["seq"] for e in back.events]
    assert seqs == list(range(last["seq"] + 1, last["seq"] + 1 + len(seqs)))
    stale = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"], since=1, epoch="not-the-epoch")
    assert stale.snapshot is not None and stale.snapshot.get("recovered") is False
    for sock in (fan1, back, stale):
        await sock.close()


async def test_ban_on_one_node_closes_socket_on_the_other(server_process: Any, pg_schema: str, redis_prefix: str,
                                                          http: aiohttp.ClientSession) -> None:
    a, b = two_nodes(server_process, pg_schema, REDIS_URL, redis_prefix)
    slug, tokens = await setup_room(http, a)
    host = await RoomSocket.connect(http, a.ws_url, slug, tokens["host1"])
    fan1 = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    watcher = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"])
    assert (await fan1.op("chat.send", text="spam spam"))["type"] == "ack"
    await watcher.wait_for(lambda: "spam spam" in watcher.texts())
    spam_id = watcher.of_type("chat.message")[-1]["data"]["id"]
    assert (await watcher.op("mod.ban", user="fan1"))["type"] == "error"  # a fan cannot moderate
    assert (await host.op("mod.ban", user="fan1"))["type"] == "ack"
    await fan1.wait_closed()
    await watcher.wait_for(lambda: any(spam_id in e["data"].get("message_ids", [])
                                       for e in watcher.of_type("chat.hidden")))
    # A banned fan who comes back, on either node, is shut out (4003).
    ws = await http.ws_connect(f"{a.ws_url}/ws/rooms/{slug}", params={"token": tokens["fan1"]})
    async for _msg in ws:
        pass
    assert ws.close_code == 4003
    for sock in (host, watcher):
        await sock.close()


async def test_redis_restart_loses_no_acknowledged_message(server_process: Any, pg_schema: str, redis_prefix: str,
                                                           http: aiohttp.ClientSession, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=True)
    redis.start()
    try:
        a, b = two_nodes(server_process, pg_schema, redis.url, redis_prefix)
        slug, tokens = await setup_room(http, a)
        fan1 = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan1"])
        acked = [f"pre {i}" for i in range(5)]
        for text in acked:
            reply = await fan1.op("chat.send", text=text)
            assert reply["type"] == "ack", reply
        redis.kill()
        # While Redis is down chat is refused with a clear error, never a crash.
        reply = await fan1.op("chat.send", text="during outage")
        assert reply["type"] == "error" and reply["code"] == "unavailable", reply
        assert reply["message"]
        await asyncio.sleep(1)
        redis.start()
        for node in (a, b):
            assert node.proc.poll() is None, node.log()
        # Sockets may have been told to reconnect; a new one recovers from history.
        late = None
        for _attempt in range(50):
            try:
                late = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"])
                if (await late.op("chat.send", text="after"))["type"] == "ack":
                    break
                await late.close()
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.2)
        assert late is not None
        await late.wait_for(lambda: "after" in late.texts())
        history = [m["text"] for m in late.snapshot["data"]["chat"]] if late.snapshot else []
        for text in acked:
            assert text in history, (text, history)
        await late.close()
        await fan1.close()
    finally:
        redis.stop()
