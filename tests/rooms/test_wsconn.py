"""An open room socket's WebSocket behaviour (rooms/wsconn.py), over aiohttp's test server.

Each test holds for aiohttp's ``WebSocketResponse`` as well (what served room sockets
before wsconn.py): pings, pongs, the heartbeat, close handshakes both ways, the parser's
close codes, the order of ops, and what the end of a socket releases.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import REGISTRY

from rooms.fanout import ws_frame
from rooms.wsconn import close_frame, control_frame

from .test_gateway import MakeClient, Room, frame, make_room, room, until

__all__ = ["room"]  # the fixture


def _gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def _emptied(room: Room) -> None:
    """Until the room's last member has left (the socket's end runs after its close)."""
    hub = room.gateway.hubs["olga"]
    while hub.members:  # noqa: ASYNC110 - the hub has no event to wait on
        await asyncio.sleep(0.01)


def _masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One client frame (RFC 6455 5.2, masked), payload under 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + mask + body


async def _raw(
    room: Room, path: str = "/ws/rooms/olga?user=fay"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket opened by hand, for frames aiohttp's client will not send."""
    server = room.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0]
    return reader, writer


async def _server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(n)


async def _close_code(reader: asyncio.StreamReader) -> int:
    while True:
        opcode, payload = await _server_frame(reader)
        if opcode == WSMsgType.CLOSE:
            return int(struct.unpack("!H", payload[:2])[0])


async def test_a_ping_is_answered_with_its_pong(room: Room) -> None:
    ws = await room.join("fay", autoping=False)
    await frame(ws)
    await ws.ping(b"hi")
    msg = await ws.receive(timeout=5)
    while msg.type is not WSMsgType.PONG:
        msg = await ws.receive(timeout=5)
    assert msg.data == b"hi"


async def test_the_server_pings_and_closes_a_socket_that_does_not_answer(
    aiohttp_client: MakeClient,
) -> None:
    room = await make_room(aiohttp_client, heartbeat_s=0.4)
    ws = await room.join("fay", autoping=False)
    await frame(ws)
    kinds = []
    while True:
        msg = await ws.receive(timeout=10)
        kinds.append(msg.type)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            break
    assert WSMsgType.PING in kinds
    await _emptied(room)


async def test_a_socket_that_answers_pings_stays_and_chats(aiohttp_client: MakeClient) -> None:
    room = await make_room(aiohttp_client, heartbeat_s=0.2)
    ws = await room.join("fay", autoping=False)
    await frame(ws)
    pings = 0
    while pings < 4:
        msg = await ws.receive(timeout=10)
        if msg.type is WSMsgType.PING:
            pings += 1
            await ws.pong(msg.data)
    await ws.send_str(json.dumps({"op": "chat.send", "id": 7, "text": "still here"}))
    assert (await until(ws, "ack"))["id"] == 7


async def test_many_sockets_share_the_heartbeat_silent_ones_close_the_rest_stay(
    aiohttp_client: MakeClient,
) -> None:
    """One wheel for every socket of the loop: each is pinged on its own schedule, the
    ones that never answer are closed, the ones that answer (autoping, while they read)
    stay and chat."""
    room = await make_room(aiohttp_client, heartbeat_s=0.3)
    room.store.users.update({f"fan{i}": 100 + i for i in range(6)})
    answering = [await room.join(f"fan{i}") for i in range(6)]
    silent = [await room.join(autoping=False) for _ in range(6)]
    for ws in [*answering, *silent]:
        await frame(ws)
    acks: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in answering]

    async def read(ws: Any, acked: asyncio.Queue[int]) -> None:
        while (msg := await ws.receive()).type is WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data["type"] == "ack":
                acked.put_nowait(data["id"])

    readers = [asyncio.create_task(read(ws, q)) for ws, q in zip(answering, acks, strict=True)]
    for ws in silent:
        while (await ws.receive(timeout=10)).type not in _ENDED:
            pass
    hub = room.gateway.hubs["olga"]
    while len(hub.members) > len(answering):  # noqa: ASYNC110 - the hub has no event to wait on
        await asyncio.sleep(0.01)
    for i, (ws, acked) in enumerate(zip(answering, acks, strict=True)):
        await ws.send_str(json.dumps({"op": "chat.send", "id": i, "text": "still here"}))
        assert await asyncio.wait_for(acked.get(), 10) == i
    assert not any(ws.closed or task.done() for ws, task in zip(answering, readers, strict=True))
    for task in readers:
        task.cancel()


_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR)


async def test_a_client_close_is_answered_and_the_member_leaves(room: Room) -> None:
    open_before = _gauge("nal_ws_sockets_open")
    ws = await room.join("fay")
    await frame(ws)
    hub = room.gateway.hubs["olga"]
    assert len(hub.members) == 1 and _gauge("nal_ws_sockets_open") == open_before + 1
    await ws.close(code=4321, message=b"bye")
    assert ws.close_code == 1000  # the server's answer
    await _emptied(room)
    assert _gauge("nal_ws_sockets_open") == open_before


async def test_ops_are_answered_in_order(room: Room) -> None:
    ws = await room.join("fay")
    await frame(ws)
    for i in range(20):
        await ws.send_str(json.dumps({"op": "chat.send", "id": i, "text": f"m{i}"}))
    acks = []
    while len(acks) < 20:
        data = await frame(ws, skip=("presence", "chat.message"))
        acks.append(data["id"] if data["type"] == "ack" else data.get("code"))
    assert acks == list(range(20))


async def test_invalid_utf8_closes_with_1007(room: Room) -> None:
    reader, writer = await _raw(room)
    writer.write(_masked(WSMsgType.TEXT, b"\xff\xfe"))
    assert await _close_code(reader) == 1007
    writer.close()


async def test_a_reserved_opcode_closes_with_1002(room: Room) -> None:
    reader, writer = await _raw(room)
    writer.write(_masked(0x3, b"x"))
    assert await _close_code(reader) == 1002
    writer.close()


async def test_an_unmasked_frame_is_read_as_aiohttp_reads_it(room: Room) -> None:
    """aiohttp's reader takes a client frame without a mask; so does ours: the op is acked."""
    reader, writer = await _raw(room)
    writer.write(ws_frame(json.dumps({"op": "chat.send", "id": 5, "text": "bare"})))
    seen: list[dict[str, Any]] = []

    def got(kind: str) -> bool:
        return any(m.get("type") == kind for m in seen)

    while not (got("error") or (got("ack") and got("chat.message"))):
        opcode, payload = await asyncio.wait_for(_server_frame(reader), 5)
        assert opcode != WSMsgType.CLOSE, payload
        if opcode == WSMsgType.TEXT:
            seen.append(json.loads(payload))
    assert not got("error"), seen
    assert [m["id"] for m in seen if m["type"] == "ack"] == [5]
    assert [m["data"]["text"] for m in seen if m["type"] == "chat.message"] == ["bare"]
    writer.close()


async def test_fragments_make_one_message(room: Room) -> None:
    reader, writer = await _raw(room)
    text = json.dumps({"op": "chat.send", "id": 3, "text": "in two"}).encode()
    writer.write(
        _masked(WSMsgType.TEXT, text[:10], fin=False)
        + _masked(WSMsgType.PING, b"p")
        + _masked(WSMsgType.CONTINUATION, text[10:])
    )
    seen: list[Any] = []
    while not any(isinstance(s, dict) and s.get("type") == "ack" for s in seen):
        opcode, payload = await _server_frame(reader)
        seen.append(json.loads(payload) if opcode == WSMsgType.TEXT else (opcode, payload))
    assert (WSMsgType.PONG, b"p") in seen
    writer.write(_masked(WSMsgType.CLOSE, struct.pack("!H", 1000)))
    assert await _close_code(reader) == 1000
    writer.close()


async def test_a_dropped_connection_ends_the_socket_and_frees_its_cap(
    aiohttp_client: MakeClient,
) -> None:
    room = await make_room(aiohttp_client, sockets_per_user=1)
    reader, writer = await _raw(room)
    opcode, payload = await _server_frame(reader)
    assert opcode == WSMsgType.TEXT and json.loads(payload)["type"] == "snapshot"
    held = await room.client.get("/ws/rooms/olga?user=fay")  # the one socket fay may hold is this
    assert held.status == 429 and (await held.json())["error"] == "too_many_sockets"
    writer.transport.abort()
    await asyncio.wait_for(_emptied(room), 10)
    ws = await room.join("fay")  # the cap of one socket is free again
    assert (await frame(ws))["type"] == "snapshot"


async def test_our_close_frame_carries_code_and_reason(room: Room) -> None:
    reader, writer = await _raw(room)
    await _server_frame(reader)
    await room.gateway.close(code=1012)
    opcode, payload = await _server_frame(reader)
    while opcode != WSMsgType.CLOSE:
        opcode, payload = await _server_frame(reader)
    assert payload == close_frame(1012, b"server restarting, reconnect")[2:]
    writer.close()


def test_control_and_close_frames_are_the_rfc_bytes() -> None:
    assert control_frame(WSMsgType.PING) == b"\x89\x00"
    assert control_frame(WSMsgType.PONG, b"ab") == b"\x8a\x02ab"
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(4008, b"slow consumer") == b"\x88\x0f\x0f\xa8slow consumer"
    long = close_frame(1008, ("é" * 100).encode())  # 200 bytes of reason: cut to 122, whole characters
    assert long[:2] == b"\x88\x7c" and long[4:].decode() == "é" * 61


async def test_aiohttp_lets_go_of_an_open_socket(room: Room) -> None:
    """What an idle socket holds (issue 17): aiohttp's handler for the connection is gone."""
    ws = await room.join("fay")
    await frame(ws)
    server: web.Server = room.client.server.runner.server  # type: ignore[union-attr,assignment]
    assert server.connections == []
    await ws.send_str(json.dumps({"op": "chat.send", "id": 1, "text": "hi"}))
    assert (await until(ws, "ack"))["id"] == 1


def test_the_shape_check_names_what_detach_needs(monkeypatch: Any) -> None:
    import pytest

    from rooms.wsio import AiohttpWsShapeChanged, check_aiohttp_ws

    check_aiohttp_ws()
    monkeypatch.delattr(web.WebSocketResponse, "_need_heartbeat_reset")
    with pytest.raises(AiohttpWsShapeChanged, match="_need_heartbeat_reset"):
        check_aiohttp_ws()
