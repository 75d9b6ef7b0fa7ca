"""A room socket client for tests: JSON frames, ops with ids, waiting for events."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp

_ids = itertools.count(1)


class RoomSocket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.snapshot: dict[str, Any] | None = None
        self.closed_code: int | None = None
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, ws_base: str, slug: str, token: str | None = None,
                      **query: Any) -> RoomSocket:
        params = {k: str(v) for k, v in query.items()}
        if token:
            params["token"] = token
        ws = await session.ws_connect(f"{ws_base}/ws/rooms/{slug}", params=params, autoping=True)
        sock = cls(ws)
        await sock.wait_for(lambda: sock.snapshot is not None)
        return sock

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            async with self._changed:
                if frame.get("type") in ("snapshot", "recovered"):
                    self.snapshot = frame
                elif frame.get("type") in ("ack", "error"):
                    self.replies[str(frame.get("id"))] = frame
                else:
                    self.events.append(frame)
                self._changed.notify_all()
        async with self._changed:
            self.closed_code = self.ws.close_code
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(wait(), timeout)

    async def op(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send an op and wait for its ack or error."""
        op_id = f"c{next(_ids)}"
        await self.ws.send_str(json.dumps({"op": op, "id": op_id, **fields}))
        await self.wait_for(lambda: op_id in self.replies)
        return self.replies[op_id]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def texts(self) -> list[str]:
        return [e["data"]["text"] for e in self.of_type("chat.message")]

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await self.wait_for(lambda: self.closed_code is not None or self.ws.closed, timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
