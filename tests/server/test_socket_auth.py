"""Who a room socket speaks for: ?token= (even empty) never falls back to the cookie."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.api import make_room, signup_login
from tests.support.roomsocket import RoomSocket

EVIL = {"Origin": "http://evil.example"}


async def cookie_login(api: Any, username: str) -> None:
    """Sign up and leave the session cookie in the client's jar."""
    await signup_login(api, username)
    r = await api.post("/api/sessions", json={"username": username, "password": "correct horse"})
    assert r.status == 200


async def refused(api: Any, slug: str, params: dict[str, str], headers: dict[str, str]) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.ws_connect(f"/ws/rooms/{slug}", params=params, headers=headers)
    return info.value.status


@pytest.mark.parametrize("headers", [EVIL, {}], ids=["cross-origin", "same-origin"])
async def test_empty_token_never_uses_the_cookie(api: Any, headers: dict[str, str]) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    await cookie_login(api, "fan")
    assert await refused(api, room["slug"], {"token": ""}, headers) == 401
    assert await refused(api, room["slug"], {"token": "not-a-session"}, headers) == 401
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="socket_token"}' in metrics


async def test_cross_origin_cookie_is_refused_with_json(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    await cookie_login(api, "fan")
    r = await api.get(f"/ws/rooms/{room['slug']}", headers={**EVIL, "Connection": "Upgrade", "Upgrade": "websocket",
                                                          "Sec-WebSocket-Version": "13",
                                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status == 403 and (await r.json())["error"] == "cross_origin"


async def test_valid_token_works_from_any_origin_and_cookie_from_ours(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    token = owner["Authorization"].removeprefix("Bearer ")
    ws = await api.ws_connect(f"/ws/rooms/{room['slug']}", params={"token": token}, headers=EVIL)
    sock = RoomSocket(ws)
    await sock.wait_for(lambda: sock.snapshot is not None)
    assert (await sock.op("chat.send", text="hello"))["type"] == "ack"  # signed in, not a guest
    await sock.close()
    await cookie_login(api, "fan")
    ws = await api.ws_connect(f"/ws/rooms/{room['slug']}")
    sock = RoomSocket(ws)
    await sock.wait_for(lambda: sock.snapshot is not None)
    assert (await sock.op("chat.send", text="from the page"))["type"] == "ack"
    await sock.close()
