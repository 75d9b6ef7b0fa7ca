"""The room socket end to end over aiohttp's test server, with the in-process bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from rooms.bus import BusSettings, EventBus, MemoryBus
from rooms.gateway import RoomGateway
from rooms.ports import FreeRoomGate, Identity

from .doubles import MemoryStore

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def make_app(gateway: RoomGateway, store: MemoryStore) -> web.Application:
    async def ws(request: web.Request) -> web.StreamResponse:
        name = request.query.get("user")
        identity = Identity(store.users[name], name) if name else None
        read_only = "read_only" in request.query
        return await gateway.handle(request, request.match_info["slug"], identity, read_only=read_only)

    async def start(_: web.Application) -> None:
        await gateway.start()

    async def stop(_: web.Application) -> None:
        await gateway.close()

    app = web.Application()
    app.router.add_get("/ws/rooms/{slug}", ws)
    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app


class Room:
    def __init__(
        self, client: Client, gateway: RoomGateway, store: MemoryStore, bus: EventBus
    ) -> None:
        self.client, self.gateway, self.store, self.bus = client, gateway, store, bus

    async def join(self, user: str | None = None, query: str = "", **kw: Any) -> Any:
        q = "&".join(p for p in (f"user={user}" if user else "", query) if p)
        return await self.client.ws_connect(f"/ws/rooms/olga?{q}", **kw)


@pytest.fixture
async def room(aiohttp_client: MakeClient) -> Room:
    return await make_room(aiohttp_client)


async def make_room(aiohttp_client: MakeClient, bus: EventBus | None = None, **kw: Any) -> Room:
    store = MemoryStore()
    bus = bus or MemoryBus()
    gateway = RoomGateway(bus, store, FreeRoomGate(), **({"presence_interval_s": 0.05} | kw))
    client = await aiohttp_client(make_app(gateway, store))
    return Room(client, gateway, store, bus)


async def frame(ws: Any, skip: tuple[str, ...] = ("presence",)) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type is WSMsgType.TEXT:
            data = json.loads(msg.data)
        elif msg.type is WSMsgType.BINARY:
            data = msgpack.unpackb(msg.data)
        else:
            raise AssertionError(f"socket closed: {msg.type} {msg.data} {msg.extra}")
        if data.get("type") not in skip:
            return data  # type: ignore[no-any-return]


async def until(ws: Any, type_: str) -> dict[str, Any]:
    while True:
        data = await frame(ws)
        if data["type"] == type_:
            return data


async def closed_with(ws: Any) -> int:
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return int(ws.close_code)


async def test_snapshot_then_chat_reaches_everyone(room: Room) -> None:
    fay, hank = await room.join("fay"), await room.join("hank")
    snap = await frame(fay)
    assert snap["type"] == "snapshot" and "recovered" not in snap
    assert set(snap["data"]) == {  # fay is signed in: her snapshot says what she voted for
        "stream", "chat", "queue", "pinned", "settings", "viewers", "tips", "supporters", "voted"
    }
    await frame(hank)
    await fay.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "hello"}))
    for ws in (fay, hank):
        event = await until(ws, "chat.message")
        assert event["data"]["text"] == "hello" and event["data"]["user"]["role"] == "fan"
        assert event["seq"] > snap["seq"] and event["epoch"] == snap["epoch"]
    assert await until(fay, "ack") == {"type": "ack", "id": 1}
    late = await room.join()
    assert [m["text"] for m in (await frame(late))["data"]["chat"]] == ["hello"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("{nope", "invalid_json"),
        ("[1]", "not_object"),
        ('{"op":"chat.yell","id":9}', "unknown_op"),
        ('{"op":"chat.send","id":9}', "bad_field"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    room: Room, payload: str, code: str
) -> None:
    ws = await room.join("fay")
    await frame(ws)
    await ws.send_str(payload)
    err = await until(ws, "error")
    assert err["code"] == code and err["message"]
    await ws.send_str(json.dumps({"op": "chat.send", "id": "after", "text": "still here"}))
    assert (await until(ws, "chat.message"))["data"]["text"] == "still here"


async def test_guest_cannot_chat_fan_cannot_moderate(room: Room) -> None:
    guest, fan = await room.join(), await room.join("fay")
    await frame(guest)
    await frame(fan)
    await guest.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "hi"}))
    assert (await until(guest, "error"))["code"] == "forbidden"
    await fan.send_str(json.dumps({"op": "mod.ban", "id": 2, "user": "troll"}))
    assert await until(fan, "error") == {
        "type": "error",
        "id": 2,
        "code": "forbidden",
        "message": "only the owner and hosts may do that",
    }


async def test_msgpack_subprotocol_both_ways(room: Room) -> None:
    ws = await room.join("fay", protocols=("nal.v1.msgpack",))
    assert ws.protocol == "nal.v1.msgpack"
    first = await ws.receive(timeout=5)
    assert first.type is WSMsgType.BINARY and msgpack.unpackb(first.data)["type"] == "snapshot"
    await ws.send_bytes(msgpack.packb({"op": "chat.send", "id": 3, "text": "packed"}))
    assert (await until(ws, "chat.message"))["data"]["text"] == "packed"
    await ws.send_bytes(b"\xc1")
    assert (await until(ws, "error"))["code"] == "invalid_msgpack"
    await ws.send_str("{}")
    assert (await until(ws, "error"))["code"] == "wrong_frame_type"


async def test_oversize_frame_closes_with_1009(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, max_frame=1024)
    ws = await room.join("fay")
    await frame(ws)
    await ws.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "x" * 2000}))
    assert await closed_with(ws) == 1009


async def test_recovery_with_since_and_epoch(room: Room) -> None:
    fan = await room.join("fay")
    snap = await frame(fan)
    await fan.close()
    host = await room.join("hank")
    await frame(host)
    for i in range(3):
        await host.send_str(json.dumps({"op": "chat.send", "id": i, "text": f"m{i}"}))
        await until(host, "ack")
    back = await room.join("fay", f"since={snap['seq']}&epoch={snap['epoch']}")
    assert await frame(back) == {"type": "recovered", "seq": snap["seq"], "epoch": snap["epoch"]}
    missed = [await until(back, "chat.message") for _ in range(3)]
    assert [m["data"]["text"] for m in missed] == ["m0", "m1", "m2"]
    seqs = [m["seq"] for m in missed]
    assert seqs == sorted(seqs) and seqs[0] > snap["seq"]

    wrong = await room.join("fay", f"since={snap['seq']}&epoch=nope")
    fresh = await frame(wrong)
    assert fresh["type"] == "snapshot" and fresh["recovered"] is False
    assert [m["text"] for m in fresh["data"]["chat"]] == ["m0", "m1", "m2"]

    superscript = await room.join("fay", f"since=%C2%B2&epoch={snap['epoch']}")  # '²' is a digit to str.isdigit
    again = await frame(superscript)
    assert again["type"] == "snapshot" and "recovered" not in again  # read as no since at all, as since=abc is


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _errors(code: str) -> float:
    return REGISTRY.get_sample_value("nal_ws_errors_total", {"code": code}) or 0.0


async def test_slow_consumer_is_closed_and_counted(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, buffer=4)
    ws = await room.join("fay")
    await frame(ws)
    before = _metric("nal_ws_slow_consumer_total")
    for i in range(10):  # MemoryBus delivers inside publish: the writer gets no turn in between
        await room.bus.publish("olga", "test.noise", {"i": i})
    assert await closed_with(ws) == 4008
    assert _metric("nal_ws_slow_consumer_total") == before + 1


async def test_ban_closes_sockets_hides_messages_and_refuses_rejoin(room: Room) -> None:
    troll, host = await room.join("troll"), await room.join("hank")
    await frame(troll)
    await frame(host)
    await troll.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "spam"}))
    message = await until(host, "chat.message")
    await host.send_str(json.dumps({"op": "mod.ban", "id": 2, "user": "troll"}))
    notice = await until(host, "mod.notice")
    assert notice["data"] == {"action": "ban", "user": "troll", "user_id": 5, "by": "hank"}
    assert (await until(host, "chat.hidden"))["data"] == {"message_ids": [message["data"]["id"]]}
    assert await closed_with(troll) == 4003
    assert room.store.bans == {7: {5}}
    again = await room.join("troll")
    assert await closed_with(again) == 4003


async def test_settings_saved_and_enforced(room: Room) -> None:
    owner, fan = await room.join("olga"), await room.join("fay")
    await frame(owner)
    await frame(fan)
    await owner.send_str(json.dumps({"op": "room.settings", "id": 1, "blocked_terms": ["spam*"]}))
    assert (await until(fan, "room.settings"))["data"]["blocked_terms"] == ["spam*"]
    assert room.store.settings[7]["blocked_terms"] == ["spam*"]
    await fan.send_str(json.dumps({"op": "chat.send", "id": 2, "text": "SPAMMY"}))
    assert (await until(fan, "error"))["code"] == "blocked_term"


async def test_blocked_terms_out_of_bounds_are_refused_and_counted(room: Room) -> None:
    owner = await room.join("olga")
    await frame(owner)
    before = _errors("bad_terms")
    frames = {"op": "room.settings", "id": 1, "blocked_terms": ["ok", "*a*a*a*a*a*b"]}
    await owner.send_str(json.dumps(frames))
    refused = await until(owner, "error")
    assert refused["code"] == "bad_terms" and refused["id"] == 1 and "'*'" in refused["message"]
    assert _errors("bad_terms") == before + 1
    assert 7 not in room.store.settings


async def test_a_lone_surrogate_is_refused_and_joins_keep_working(room: Room) -> None:
    fay = await room.join("fay")
    await frame(fay)
    before = _errors("invalid_text")
    await fay.send_str('{"op":"chat.send","id":1,"text":"bad \\ud800"}')
    refused = await until(fay, "error")
    assert refused["code"] == "invalid_text" and refused["id"] is None
    assert _errors("invalid_text") == before + 1
    await fay.send_str(json.dumps({"op": "chat.send", "id": 2, "text": "still here"}))
    assert (await until(fay, "chat.message"))["data"]["text"] == "still here"
    late = await room.join("finn")
    assert [m["text"] for m in (await frame(late))["data"]["chat"]] == ["still here"]


@pytest.mark.parametrize("protocol", [None, "nal.v1.msgpack"])
async def test_an_event_that_cannot_be_encoded_is_dropped_not_fatal(
    room: Room, protocol: str | None
) -> None:
    kw = {"protocols": (protocol,)} if protocol else {}
    fay = await room.join("fay", **kw)
    await frame(fay)
    before = _metric("nal_room_events_dropped_total")
    # A hand-made publish (another version of us, a script with Redis access) gets past
    # the parser: the hub must drop it, and it must never reach a snapshot.
    bad = {"id": "m1", "user": {"id": 3, "name": "fay", "role": "fan"}, "text": "\ud800", "ts": 1.0}
    await room.bus.publish("olga", "chat.message", bad)
    await room.bus.publish("olga", "chat.message", {**bad, "id": "m2", "text": "fine"})
    assert (await until(fay, "chat.message"))["data"]["text"] == "fine"
    assert _metric("nal_room_events_dropped_total") == before + 1
    for _ in range(2):
        late = await room.join("finn", **kw)
        assert [m["text"] for m in (await frame(late))["data"]["chat"]] == ["fine"]


async def test_song_request_and_vote(room: Room) -> None:
    fay, finn = await room.join("fay"), await room.join("finn")
    await frame(fay)
    await frame(finn)
    await fay.send_str(json.dumps({"op": "song.request", "id": 1, "song_id": 11}))
    queue = (await until(finn, "song.queue"))["data"]["queue"]
    await finn.send_str(json.dumps({"op": "song.vote", "id": 2, "request_id": queue[0]["id"]}))
    assert (await until(finn, "song.queue"))["data"]["queue"][0]["votes"] == 1
    await finn.send_str(json.dumps({"op": "song.vote", "id": 3, "request_id": queue[0]["id"]}))
    assert (await until(finn, "error"))["code"] == "already_voted"
    await fay.send_str(json.dumps({"op": "song.request", "id": 4, "song_id": 99}))
    assert (await until(fay, "error"))["code"] == "not_found"
    # A new socket of the voter is told what it voted for; the requester's and a guest's are not.
    again, requester, guest = await room.join("finn"), await room.join("fay"), await room.join()
    assert (await frame(again))["data"]["voted"] == [queue[0]["id"]]
    assert (await frame(requester))["data"]["voted"] == []
    assert "voted" not in (await frame(guest))["data"]


async def counts_until(ws: Any, viewers: int) -> list[int]:
    """The viewer counts ``ws`` is told, up to the first that equals ``viewers``.

    Presence is published only when the count changes, so a wrong count is never followed
    by the right one and the wait fails (the socket goes quiet: ``frame`` times out)."""
    seen: list[int] = []
    while not seen or seen[-1] != viewers:
        seen.append((await until_presence(ws))["data"]["viewers"])
    return seen


async def until_presence(ws: Any) -> dict[str, Any]:
    while True:
        data = await frame(ws, skip=())
        if data["type"] == "presence":
            return data


async def test_presence_counts_viewers(room: Room) -> None:
    a, b = await room.join("fay"), await room.join()
    await frame(a)
    await frame(b)
    assert set(await counts_until(a, 2)) <= {1, 2}
    c = await room.join("finn")  # another guest on this address would be the same viewer
    assert (await frame(c))["data"]["viewers"] == 2  # the snapshot carries the last count
    assert await counts_until(a, 3) == [3]
    await b.close()
    await c.close()
    assert set(await counts_until(a, 1)) <= {1, 2}
    assert room.gateway.viewers_here("olga") == 1


async def _viewers(ws: Any, want: int) -> None:
    while True:
        event = await frame(ws, skip=())
        if event["type"] == "presence" and event["data"]["viewers"] == want:
            return


async def test_viewers_are_people_not_sockets_and_not_the_staff(room: Room) -> None:
    sockets = [await room.join(who) for who in ("olga", "hank", "fay", "fay", None, None)]
    for ws in sockets:
        await frame(ws)
    # fay's two tabs are one viewer, two guests on one address are one; owner and host: none.
    await _viewers(sockets[2], 2)
    assert room.gateway.viewers_here("olga") == 2
    await sockets[3].close()
    await sockets[5].close()
    assert room.gateway.viewers_here("olga") == 2
    await sockets[4].close()
    await _viewers(sockets[2], 1)


async def _refused(room: Room) -> tuple[int, dict[str, Any]]:
    r = await room.client.get("/ws/rooms/olga")  # refused before any upgrade
    return r.status, await r.json()


async def test_guest_sockets_are_capped_per_address(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, guests_per_address=2)
    guests = [await room.join(), await room.join()]
    before = _refusals("guests_per_address")
    status, body = await _refused(room)
    assert status == 429 and body["error"] == "too_many_sockets" and "address" in body["message"]
    assert _refusals("guests_per_address") == before + 1
    fay = await room.join("fay")  # signed-in users count per user, not per address
    await frame(fay)
    await guests[0].close()
    await frame(await room.join())


async def test_sockets_are_capped_per_user_and_in_all(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, sockets_per_user=2, max_sockets=3)
    fays = [await room.join("fay"), await room.join("fay")]
    for ws in fays:
        await frame(ws)
    before_user, before_all = _refusals("per_user"), _refusals("total")
    status, body = await _refused_as(room, "fay")
    assert status == 429 and body["error"] == "too_many_sockets"
    await frame(await room.join("finn"))
    status, body = await _refused_as(room, "hank")
    assert status == 503 and body["error"] == "too_many_sockets"
    assert (_refusals("per_user"), _refusals("total")) == (before_user + 1, before_all + 1)


def _refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("nal_ws_refused_total", {"reason": reason}) or 0.0


async def _refused_as(room: Room, user: str) -> tuple[int, dict[str, Any]]:
    r = await room.client.get(f"/ws/rooms/olga?user={user}")
    return r.status, await r.json()


async def test_publish_system_and_room_changed(room: Room) -> None:
    fay = await room.join("fay")
    await frame(fay)
    await room.gateway.publish_system("olga", "stream.state", {"live": True}, "live-1")
    await room.gateway.publish_system("olga", "stream.state", {"live": True}, "live-1")
    await room.gateway.publish_system("olga", "test.sentinel", {}, "after-1")
    assert (await until(fay, "stream.state"))["data"] == {"live": True}
    # Events arrive in order: a second stream.state would come before the sentinel.
    assert (await frame(fay))["type"] == "test.sentinel"
    await fay.send_str(json.dumps({"op": "chat.pin", "id": 1, "message_id": None}))
    assert (await until(fay, "error"))["code"] == "forbidden"
    room.store.add_host("olga", 3)
    await room.gateway.room_changed("olga")
    await until(fay, "room.changed")
    for _ in range(500):
        if 3 in room.gateway.hubs["olga"].state.info.host_ids:
            break
        await asyncio.sleep(0.01)
    assert 3 in room.gateway.hubs["olga"].state.info.host_ids
    await fay.send_str(json.dumps({"op": "chat.pin", "id": 2, "message_id": None}))
    assert (await until(fay, "chat.pinned"))["data"] == {"message": None}
    snap = await frame(await room.join())
    assert snap["data"]["stream"] == {"live": True}


async def test_close_drains_with_1012(room: Room) -> None:
    ws = await room.join("fay")
    await frame(ws)
    closing = asyncio.create_task(room.gateway.close())
    assert await closed_with(ws) == 1012
    await closing
    late = await room.join("fay")
    assert await closed_with(late) == 1012


async def test_unknown_room_is_404(room: Room) -> None:
    resp = await room.client.get("/ws/rooms/nobody")
    assert resp.status == 404


async def test_idle_room_is_dropped_and_rebuilt(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, idle_hub_s=0.0)
    ws = await room.join("fay")
    await frame(ws)
    await ws.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "kept in history"}))
    await until(ws, "ack")
    await ws.close()
    for _ in range(500):
        if "olga" not in room.gateway.hubs:
            break
        await asyncio.sleep(0.01)
    assert "olga" not in room.gateway.hubs
    again = await room.join("fay")
    snap = await frame(again)
    assert [m["text"] for m in snap["data"]["chat"]] == ["kept in history"]


async def test_room_state_survives_history_and_idle_drop(aiohttp_client: MakeClient) -> None:
    bus = MemoryBus(BusSettings(history_s=0.0))  # history forgets at once; sticky state stays
    room = await make_room(aiohttp_client, bus, idle_hub_s=0.0)
    ws = await room.join("fay")
    await frame(ws)
    await room.gateway.publish_system("olga", "stream.state", {"live": True})
    await ws.send_str(json.dumps({"op": "song.request", "id": 1, "song_id": 11}))
    await until(ws, "ack")
    await ws.close()
    for _ in range(500):
        if "olga" not in room.gateway.hubs:
            break
        await asyncio.sleep(0.01)
    assert "olga" not in room.gateway.hubs  # dropped: the snapshot below is rebuilt from the bus
    snap = await frame(await room.join())
    assert snap["data"]["stream"] == {"live": True}
    assert [q["song"]["title"] for q in snap["data"]["queue"]] == ["Blue"]
