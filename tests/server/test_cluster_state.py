"""Room state every node agrees on and that survives a node's restart: two server processes
on one Redis and one PostgreSQL. Rate-limit buckets live in Redis, timeouts and song voters
in the database, so a fan who switches nodes, or meets a node that rebuilt the room after
the events left history, meets the same rule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import REDIS_URL, drop_pg_schema, pg_url
from tests.server.test_cluster import setup_room
from tests.support.roomsocket import RoomSocket

FEW = 3
"""history_events: a handful of events later, a room's older events have left history."""


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def nodes(server_process: Any, schema: str, prefix: str, **extra: Any) -> tuple[Any, Any]:
    common = {"database": pg_url(schema), "redis": REDIS_URL, "redis_prefix": prefix, **extra}
    return server_process(**common), server_process(**common)


async def restart(node: Any) -> None:
    """Stop and start the node in a thread: the test's own sockets on the other node keep
    answering the server's pings meanwhile (a cold start can outlast 20 s of heartbeat plus
    10 s of pong wait on a loaded box, and the host's socket was closed under the test)."""

    def blocking() -> None:
        assert node.terminate() == 0, node.log()
        node.start()

    await asyncio.to_thread(blocking)


async def push_out_of_history(sock: RoomSocket, n: int = FEW + 1) -> None:
    for i in range(n):
        assert (await sock.op("chat.send", text=f"filler {i}"))["type"] == "ack"


async def test_chat_allowance_is_one_bucket_on_every_node_and_after_a_restart(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix, chat_fan_messages=4, chat_window_s=3600)
    slug, tokens = await setup_room(http, a)
    on_a = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan1"])
    on_b = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    for i in range(4):
        reply = await (on_a if i % 2 else on_b).op("chat.send", text=f"hi {i}")
        assert reply["type"] == "ack", reply
    for sock in (on_a, on_b):
        reply = await sock.op("chat.send", text="one too many")
        assert reply["type"] == "error" and reply["code"] == "rate_limited", reply
    other = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan2"])
    assert (await other.op("chat.send", text="my own bucket"))["type"] == "ack"
    await on_b.close()
    await other.close()
    await restart(b)
    back = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    reply = await back.op("chat.send", text="after the restart")
    assert reply["type"] == "error" and reply["code"] == "rate_limited", reply
    for sock in (on_a, back):
        await sock.close()


async def test_a_timeout_holds_on_a_node_that_reloaded_the_room(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix, history_events=FEW)
    slug, tokens = await setup_room(http, a)
    host = await RoomSocket.connect(http, a.ws_url, slug, tokens["host1"])
    fan = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    assert (await fan.op("chat.send", text="before"))["type"] == "ack"
    assert (await host.op("mod.timeout", user="fan1", seconds=3600))["type"] == "ack"
    reply = await fan.op("chat.send", text="while timed out")
    assert reply["type"] == "error" and reply["code"] == "timed_out", reply
    await fan.close()
    await push_out_of_history(host)  # the timeout notice is no longer in history
    await restart(b)
    fan = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    reply = await fan.op("chat.send", text="after the restart")
    assert reply["type"] == "error" and reply["code"] == "timed_out", reply
    # Lifted by an unban (the stored timeout goes with it), on every node.
    assert (await host.op("mod.unban", user="fan1"))["type"] == "ack"
    await fan.close()
    await restart(b)
    fan = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    assert (await fan.op("chat.send", text="free again"))["type"] == "ack"
    for sock in (host, fan):
        await sock.close()


async def test_a_timed_out_fan_tips_without_a_message_however_old_the_timeout(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession
) -> None:
    """The tip reads the stored timeout, not the room's recent events: once the notice left
    history (here a few events later; in a real room two minutes), the rule still holds."""
    a, b = nodes(server_process, pg_schema, redis_prefix, history_events=FEW)
    slug, tokens = await setup_room(http, a)
    host = await RoomSocket.connect(http, a.ws_url, slug, tokens["host1"])
    assert (await host.op("mod.timeout", user="fan1", seconds=3600))["type"] == "ack"
    await push_out_of_history(host)
    fan = {"Authorization": f"Bearer {tokens['fan1']}"}
    for node in (a, b):
        r = await http.post(f"{node.url}/api/rooms/{slug}/tips", json={"amount": 500, "message": "hello"}, headers=fan)
        assert r.status == 403 and (await r.json())["error"] == "timed_out", await r.text()
        r = await http.post(f"{node.url}/api/rooms/{slug}/tips", json={"amount": 500}, headers=fan)
        assert r.status == 201, await r.text()
    assert (await host.op("mod.unban", user="fan1"))["type"] == "ack"  # lifts the stored timeout
    r = await http.post(f"{b.url}/api/rooms/{slug}/tips", json={"amount": 500, "message": "free"}, headers=fan)
    assert r.status == 201, await r.text()
    await host.close()


async def test_one_vote_per_fan_on_a_node_that_reloaded_the_queue(
    server_process: Any, pg_schema: str, redis_prefix: str, http: aiohttp.ClientSession
) -> None:
    a, b = nodes(server_process, pg_schema, redis_prefix, history_events=FEW)
    slug, tokens = await setup_room(http, a)
    r = await http.post(f"{a.url}/api/rooms/{slug}/songs", json={"title": "Blue", "artist": "Olga"},
                        headers={"Authorization": f"Bearer {tokens['owner']}"})
    assert r.status == 201, await r.text()
    song_id = (await r.json())["id"]
    host = await RoomSocket.connect(http, a.ws_url, slug, tokens["host1"])
    asker = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan2"])
    assert (await asker.op("song.request", song_id=song_id))["type"] == "ack"
    await asker.wait_for(lambda: bool(asker.of_type("song.queue")))
    request_id = asker.of_type("song.queue")[-1]["data"]["queue"][0]["id"]
    voter = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    assert (await voter.op("song.vote", request_id=request_id))["type"] == "ack"
    reply = await voter.op("song.vote", request_id=request_id)
    assert reply["type"] == "error" and reply["code"] == "already_voted", reply
    await voter.close()
    await push_out_of_history(host)  # the queue now comes back from its last event: counts
    await restart(b)
    voter = await RoomSocket.connect(http, b.ws_url, slug, tokens["fan1"])
    assert voter.snapshot is not None
    assert [q["votes"] for q in voter.snapshot["data"]["queue"]] == [1]
    reply = await voter.op("song.vote", request_id=request_id)
    assert reply["type"] == "error" and reply["code"] == "already_voted", reply
    on_a = await RoomSocket.connect(http, a.ws_url, slug, tokens["fan1"])
    reply = await on_a.op("song.vote", request_id=request_id)
    assert reply["type"] == "error" and reply["code"] == "already_voted", reply
    for sock in (host, asker, voter, on_a):
        await sock.close()
