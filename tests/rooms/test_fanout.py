"""rooms/fanout.py over real sockets: the room's log, its passes and the sockets that go solo.

Sockets join, chat and get acks while events are published in bursts (the in-process bus
delivers inside ``publish``, so a burst lands in one pass, or in several when the passes
run between them). Whatever state each socket was in, it must get every event from its
snapshot on, each once, in seq order, and its own frames where they were queued.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rooms import fanout
from rooms.protocol import MSGPACK_SUBPROTOCOL

from .test_gateway import MakeClient, frame, make_room

BURST = 300


async def _frames_until(ws: Any, last_seq: int, ack: bool = False) -> list[dict[str, Any]]:
    """Every frame up to the event ``last_seq`` (the snapshot read already), and the ack."""
    frames: list[dict[str, Any]] = []
    while not (frames and frames[-1].get("seq", 0) >= last_seq) or (
        ack and not any(f["type"] == "ack" for f in frames)
    ):
        frames.append(await frame(ws, skip=()))
    return frames


def _assert_every_event_once_in_order(first_seq: int, frames: list[dict[str, Any]]) -> None:
    seqs = [f["seq"] for f in frames if "seq" in f]
    assert seqs == list(range(first_seq + 1, first_seq + 1 + len(seqs)))
    noise = [f["data"]["i"] for f in frames if f["type"] == "test.noise"]
    assert noise == list(range(noise[0], BURST)) if noise else True


@pytest.mark.parametrize("chunk", [fanout.PASS_CHUNK, 1], ids=["default-chunk", "one-socket-per-chunk"])
async def test_each_socket_gets_every_event_once_in_order_from_where_it_joined(
    aiohttp_client: MakeClient, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """With one socket per pass chunk, events published while a pass is under way reach the
    sockets it has not written yet in that pass, and the others in the next."""
    monkeypatch.setattr(fanout, "PASS_CHUNK", chunk)
    room = await make_room(aiohttp_client)
    early = [await room.join("fay"), await room.join("hank", protocols=(MSGPACK_SUBPROTOCOL,))]
    start = {id(ws): (await frame(ws))["seq"] for ws in early}

    async def burst() -> int:
        for i in range(BURST):
            event = await room.bus.publish("olga", "test.noise", {"i": i})
            if i % 3 == 0:
                await asyncio.sleep(0)  # the flusher, the joins and the chat get their turns
        return event.seq

    publishing = asyncio.create_task(burst())
    await early[0].send_str(json.dumps({"op": "chat.send", "id": 1, "text": "mid-burst"}))
    late = []
    while not publishing.done():  # guests join while batches are pending
        ws = await room.join()
        snap = await frame(ws)
        assert snap["type"] == "snapshot"
        start[id(ws)] = snap["seq"]
        late.append(ws)
    last_seq = await publishing

    for ws in [*early, *late]:
        if start[id(ws)] >= last_seq:
            continue  # joined after the burst
        frames = await _frames_until(ws, last_seq, ack=ws is early[0])
        _assert_every_event_once_in_order(start[id(ws)], frames)
        if ws is early[0]:  # its own chat message, then its ack, where the op queued them
            types = [f["type"] for f in frames]
            assert types.index("chat.message") < types.index("ack")
            assert frames[types.index("ack")] == {"type": "ack", "id": 1}
