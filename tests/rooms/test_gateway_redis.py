"""Two gateways (two nodes) sharing one real Redis: one order, bans and recovery across nodes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms.bus import BusSettings
from rooms.redisbus import RedisBus
from tests.support.redis_server import RedisServer

from .conftest import REDIS_URL, ThrowawayRedis
from .test_gateway import MakeClient, Room, closed_with, frame, make_room, until


@pytest.fixture
async def nodes(aiohttp_client: MakeClient, redis_prefix: str) -> AsyncIterator[tuple[Room, Room]]:
    a = await make_room(aiohttp_client, RedisBus(REDIS_URL, redis_prefix))
    b = await make_room(aiohttp_client, RedisBus(REDIS_URL, redis_prefix))
    b.store = a.store  # one database
    b.gateway.store = a.store
    yield a, b
    for node in (a, b):
        await node.gateway.close()
        await node.bus.close()


async def chat_seqs(ws: Any, n: int) -> list[tuple[int, str]]:
    out = []
    while len(out) < n:
        event = await until(ws, "chat.message")
        out.append((event["seq"], event["data"]["text"]))
    return out


async def test_chat_crosses_nodes_in_one_order(nodes: tuple[Room, Room]) -> None:
    a, b = nodes
    fay, finn = await a.join("fay"), await b.join("finn")
    snap_a, snap_b = await frame(fay), await frame(finn)
    assert snap_a["epoch"] == snap_b["epoch"]

    async def say(ws: Any, who: str) -> None:
        for i in range(10):
            await ws.send_str(json.dumps({"op": "chat.send", "id": i, "text": f"{who}{i}"}))

    await asyncio.gather(say(fay, "a"), say(finn, "b"))
    seen_a, seen_b = await chat_seqs(fay, 20), await chat_seqs(finn, 20)
    assert seen_a == seen_b
    assert [s for s, _ in seen_a] == sorted(s for s, _ in seen_a)


async def test_ban_on_one_node_closes_the_socket_on_the_other(nodes: tuple[Room, Room]) -> None:
    a, b = nodes
    host, troll = await a.join("hank"), await b.join("troll")
    await frame(host)
    await frame(troll)
    await host.send_str(json.dumps({"op": "mod.ban", "id": 1, "user": "troll"}))
    assert await closed_with(troll) == 4003
    assert (await until(host, "mod.notice"))["data"]["user_id"] == 5


async def test_recover_on_another_node(nodes: tuple[Room, Room]) -> None:
    a, b = nodes
    fan = await a.join("fay")
    snap = await frame(fan)
    await fan.close()
    host = await a.join("hank")
    await frame(host)
    for i in range(3):
        await host.send_str(json.dumps({"op": "chat.send", "id": i, "text": f"m{i}"}))
        await until(host, "ack")
    back = await b.join("fay", f"since={snap['seq']}&epoch={snap['epoch']}")
    first = await frame(back)
    assert first["type"] == "recovered"
    assert [t for _, t in await chat_seqs(back, 3)] == ["m0", "m1", "m2"]


async def test_redis_restart_mid_chat(
    aiohttp_client: MakeClient, throwaway_redis: ThrowawayRedis
) -> None:
    node = await make_room(aiohttp_client, RedisBus(throwaway_redis.url, "nal", BusSettings()))
    try:
        fay = await node.join("fay")
        snap = await frame(fay)
        await fay.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "before"}))
        await until(fay, "ack")
        throwaway_redis.stop()
        await fay.send_str(json.dumps({"op": "chat.send", "id": 2, "text": "during"}))
        err = await until(fay, "error")
        assert (err["id"], err["code"]) == (2, "unavailable")
        throwaway_redis.start()
        for attempt in range(200):  # the client retries until the bus is back
            await fay.send_str(json.dumps({"op": "chat.send", "id": 3 + attempt, "text": "after"}))
            reply = await frame(fay)
            while reply["type"] not in ("ack", "error"):
                reply = await frame(fay)
            if reply["type"] == "ack":
                break
            assert reply["code"] == "unavailable"
            await asyncio.sleep(0.05)
        reply = await until(fay, "chat.message")
        assert reply["data"]["text"] == "after"
        assert reply["epoch"] != snap["epoch"]  # Redis lost its history: a new epoch
    finally:
        await node.gateway.close()
        await node.bus.close()


async def test_tip_and_boost_on_one_node_reach_the_other_once(nodes: tuple[Room, Room]) -> None:
    a, b = nodes
    fay, finn = await a.join("fay"), await b.join("finn")
    await frame(fay)
    await frame(finn)
    await finn.send_str(json.dumps({"op": "song.request", "id": 1, "song_id": 11}))
    rid = (await until(fay, "song.queue"))["data"]["queue"][0]["id"]
    tip = {"id": "t1", "from": "fay", "amount": 500, "currency": "USD", "message": "hi"}
    boost = {"request_id": rid, "boost_id": "b1", "amount": 300, "currency": "USD", "from": "fay"}
    for node in (a, b):  # a webhook handled on both nodes: the idempotency keys keep it once
        await node.gateway.publish_system("olga", "tip", tip, "tip:t1")
        await node.gateway.publish_system("olga", "song.boost", boost, "boost:b1")
    assert (await until(finn, "tip"))["data"]["message"] == "hi"
    assert (await until(finn, "song.queue"))["data"]["queue"][0]["boost_minor"] == 300
    late = (await frame(await b.join()))["data"]
    assert [t["id"] for t in late["tips"]] == ["t1"]
    assert late["supporters"] == [{"name": "fay", "amount": 500, "currency": "USD"}]
    assert late["queue"][0]["boost_minor"] == 300


async def test_a_vote_the_bus_refused_can_be_cast_again(aiohttp_client: MakeClient, tmp_path: Any) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=True)  # the queue outlives the restart
    redis.start()
    node = await make_room(aiohttp_client, RedisBus(redis.url, "nal", BusSettings()))
    try:
        finn, fay = await node.join("finn"), await node.join("fay")
        await frame(finn)
        await frame(fay)
        await finn.send_str(json.dumps({"op": "song.request", "id": 1, "song_id": 11}))
        request_id = (await until(fay, "song.queue"))["data"]["queue"][0]["id"]
        redis.kill()
        await fay.send_str(json.dumps({"op": "song.vote", "id": 2, "request_id": request_id}))
        err = await until(fay, "error")
        assert (err["id"], err["code"]) == (2, "unavailable")
        assert node.store.votes[7].get(request_id, set()) == set()  # not kept: not published
        redis.start()
        for attempt in range(200):  # the fan retries until the bus is back
            await fay.send_str(json.dumps({"op": "song.vote", "id": 3 + attempt, "request_id": request_id}))
            reply = await frame(fay)
            while reply["type"] not in ("ack", "error"):
                reply = await frame(fay)
            if reply["type"] == "ack":
                break
            assert reply["code"] == "unavailable", reply
            await asyncio.sleep(0.05)
        assert reply["type"] == "ack"
        assert node.store.votes[7][request_id] == {3}
    finally:
        await node.gateway.close()
        await node.bus.close()
        redis.stop()
