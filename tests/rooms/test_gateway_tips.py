"""Tips, boosts and read-only (overlay) sockets over a real socket, with the in-process bus."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rooms.bus import BusSettings, MemoryBus
from rooms.ports import Admission, Identity, RoomInfo

from .test_gateway import MakeClient, Room, closed_with, frame, make_room, until
from .test_gateway import room as room  # noqa: F401 - the fixture

TIP = {"id": "t1", "from": "fay", "amount": 500, "currency": "USD", "message": "for the bridge"}


def tip(tid: str, sender: str, amount: int, message: str = "") -> dict[str, Any]:
    return {"id": tid, "from": sender, "amount": amount, "currency": "USD", "message": message}


async def test_tip_reaches_everyone_and_the_snapshot(room: Room) -> None:
    fay, finn = await room.join("fay"), await room.join("finn")
    await frame(fay)
    await frame(finn)
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")  # a retried webhook
    await room.gateway.publish_system("olga", "tip", tip("t2", "finn", 200), "tip:t2")
    for ws in (fay, finn):
        data = (await until(ws, "tip"))["data"]
        assert data == {**TIP, "ts": data["ts"]} and isinstance(data["ts"], float)  # stamped
        assert (await until(ws, "tip"))["data"]["id"] == "t2"
    snap = (await frame(await room.join()))["data"]
    assert [t["id"] for t in snap["tips"]] == ["t1", "t2"]
    assert snap["supporters"] == [
        {"name": "fay", "amount": 500, "currency": "USD"},
        {"name": "finn", "amount": 200, "currency": "USD"},
    ]


async def test_refund_marks_the_tip_and_leaves_the_supporters(room: Room) -> None:
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")
    await room.gateway.publish_system("olga", "tip", tip("t2", "finn", 200), "tip:t2")
    fay = await room.join("fay")
    await frame(fay)
    await room.gateway.publish_system("olga", "tip.refunded", {"id": "t1"}, "refund:t1")
    assert (await until(fay, "tip.refunded"))["data"] == {"id": "t1"}
    snap = (await frame(await room.join()))["data"]
    assert [(t["id"], t["refunded"]) for t in snap["tips"]] == [("t1", True), ("t2", False)]
    assert [s["name"] for s in snap["supporters"]] == ["finn"]


async def test_host_hides_a_tip_fan_may_not(room: Room) -> None:
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")
    fan, host = await room.join("finn"), await room.join("hank")
    await frame(fan)
    await frame(host)
    await fan.send_str(json.dumps({"op": "tip.hide", "id": 1, "tip_id": "t1"}))
    assert await until(fan, "error") == {
        "type": "error", "id": 1, "code": "forbidden",
        "message": "only the owner and hosts may do that",
    }
    await host.send_str(json.dumps({"op": "tip.hide", "id": 2, "tip_id": "nope"}))
    assert (await until(host, "error"))["code"] == "not_found"
    await host.send_str(json.dumps({"op": "tip.hide", "id": 3, "tip_id": "t1"}))
    for ws in (fan, host):
        assert (await until(ws, "tip.hidden"))["data"] == {"id": "t1"}
    (shown,) = (await frame(await room.join()))["data"]["tips"]
    assert shown["message"] == "" and shown["hidden"] is True and shown["amount"] == 500
    assert (await frame(await room.join()))["data"]["supporters"][0]["amount"] == 500


async def test_boost_reorders_the_queue_and_outlives_history(aiohttp_client: MakeClient) -> None:
    bus = MemoryBus(BusSettings(history_s=0.0))  # history forgets at once; sticky state stays
    room = await make_room(aiohttp_client, bus, idle_hub_s=0.0)
    fay, finn = await room.join("fay"), await room.join("finn")
    await frame(fay)
    await frame(finn)
    await fay.send_str(json.dumps({"op": "song.request", "id": 1, "song_id": 11}))
    await until(fay, "ack")
    await finn.send_str(json.dumps({"op": "song.request", "id": 2, "song_id": 11}))
    await until(finn, "ack")
    queue = (await until(fay, "song.queue"))["data"]["queue"]
    first, second = [q["id"] for q in queue]
    boost = {"request_id": second, "boost_id": "b1", "amount": 300, "currency": "USD", "from": "finn"}
    await room.gateway.publish_system("olga", "song.boost", boost, "boost:b1")
    await room.gateway.publish_system("olga", "song.boost", boost, "boost:b1")
    assert (await until(fay, "song.boost"))["data"] == boost
    queue = (await until(fay, "song.queue"))["data"]["queue"]
    assert [(q["id"], q["boost_minor"]) for q in queue] == [(second, 300), (first, 0)]
    for ws in (fay, finn):
        await ws.close()
    for _ in range(500):
        if "olga" not in room.gateway.hubs:
            break
        await asyncio.sleep(0.01)
    assert "olga" not in room.gateway.hubs
    snap = (await frame(await room.join()))["data"]
    assert [(q["id"], q["boost_minor"]) for q in snap["queue"]] == [(second, 300), (first, 0)]


async def test_tips_survive_a_reload_from_history(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, idle_hub_s=0.0)
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")
    ws = await room.join("hank")
    await frame(ws)
    await ws.send_str(json.dumps({"op": "tip.hide", "id": 1, "tip_id": "t1"}))
    await until(ws, "tip.hidden")
    await ws.close()
    for _ in range(500):
        if "olga" not in room.gateway.hubs:
            break
        await asyncio.sleep(0.01)
    assert "olga" not in room.gateway.hubs
    other = await make_room(aiohttp_client, room.bus)  # another node on the same bus
    snap = (await frame(await other.join()))["data"]
    assert [(t["id"], t["hidden"]) for t in snap["tips"]] == [("t1", True)]
    assert snap["supporters"] == [{"name": "fay", "amount": 500, "currency": "USD"}]


class ClosedGate:
    async def admit(self, room: RoomInfo, identity: Identity | None) -> Admission:
        return Admission(False, False, "this room needs a ticket")


async def test_read_only_socket_gets_events_sends_nothing(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client)
    room.gateway.gate = ClosedGate()
    overlay = await room.join("olga", "read_only=1")  # even the owner's identity is dropped
    assert (await frame(overlay))["type"] == "snapshot"
    await room.gateway.publish_system("olga", "tip", TIP, "tip:t1")
    assert (await until(overlay, "tip"))["data"]["message"] == TIP["message"]
    await overlay.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "hi"}))
    assert (await until(overlay, "error"))["code"] == "forbidden"
    await overlay.send_str(json.dumps({"op": "tip.hide", "id": 2, "tip_id": "t1"}))
    assert (await until(overlay, "error"))["code"] == "forbidden"
    fan = await room.join("fay")
    assert await closed_with(fan) == 4001  # the gate still applies to everyone else


class ShowGate:
    async def admit(self, room: RoomInfo, identity: Identity | None) -> Admission:
        return Admission(False, False, "ticket needed: show s1", code="ticket_needed",
                         info={"show": {"id": "s1", "title": "Album night", "tiers": [{"name": "VIP", "price": 900}]}})


@pytest.mark.parametrize("protocol", [None, "nal.v1.msgpack"])
async def test_a_refusal_with_info_is_told_before_the_close(aiohttp_client: MakeClient, protocol: str | None) -> None:
    room = await make_room(aiohttp_client)
    room.gateway.gate = ShowGate()
    fan = await room.join("fay", **({"protocols": (protocol,)} if protocol else {}))
    assert await frame(fan) == {
        "type": "not_admitted", "code": "ticket_needed", "message": "ticket needed: show s1",
        "data": {"show": {"id": "s1", "title": "Album night", "tiers": [{"name": "VIP", "price": 900}]}}}
    assert await closed_with(fan) == 4001
    assert "fay" not in str([m.identity for hub in room.gateway.hubs.values() for m in hub.members])


async def test_a_tips_message_loses_bidi_controls_and_zero_width_characters(room: Room) -> None:
    fay = await room.join("fay")
    await frame(fay)
    await room.gateway.publish_system("olga", "tip", tip("t9", "fay", 100, "\u202eyou rock\u200b"))
    assert (await until(fay, "tip"))["data"]["message"] == "you rock"
    assert [t["message"] for t in (await frame(await room.join()))["data"]["tips"]] == ["you rock"]
