"""The owner goes live from the studio without the stream key: a single-use publish ticket,
minted by the owner's session only, is WHIP's Bearer token (issue 15 item 3)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.api import make_room, signup_login

NOT_SDP = "v=0 this is not an offer"


async def publish_ticket(api: Any, slug: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
    r: aiohttp.ClientResponse = await api.post(f"/api/rooms/{slug}/publish-ticket", headers=headers)
    return r


async def whip_status(api: Any, slug: str, token: str) -> int:
    """403 when ``token`` does not authorize publishing; past the check the bad offer is 400."""
    r = await api.post(f"/whip/{slug}", data=NOT_SDP,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"})
    status: int = r.status
    return status


async def test_owner_ticket_authorizes_whip_once(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    r = await publish_ticket(api, room["slug"], owner)
    assert r.status == 201, await r.text()
    ticket = (await r.json())["ticket"]
    assert ticket.startswith("pub_") and ticket != room["stream_key"]
    assert await whip_status(api, room["slug"], ticket) == 400  # authorized; the offer is what is wrong
    assert await whip_status(api, room["slug"], ticket) == 403  # single use
    assert await whip_status(api, room["slug"], room["stream_key"]) == 400  # the key still works for OBS


async def test_only_the_owner_gets_a_ticket_and_only_for_that_room(api: Any) -> None:
    owner = await signup_login(api, "owner")
    fan = await signup_login(api, "fanny")
    room = await make_room(api, owner)
    other = await make_room(api, owner, "Another Show")
    r = await publish_ticket(api, room["slug"], fan)
    assert r.status == 403 and (await r.json())["error"] == "forbidden"
    assert (await api.post(f"/api/rooms/{room['slug']}/publish-ticket")).status == 401
    assert (await publish_ticket(api, "no-such-room", owner)).status == 404
    wrong_room = (await (await publish_ticket(api, other["slug"], owner)).json())["ticket"]
    assert await whip_status(api, room["slug"], wrong_room) == 403


@pytest.mark.parametrize("who", ["owner", "fan"])
async def test_a_socket_ticket_never_publishes(api: Any, who: str) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    headers = owner if who == "owner" else await signup_login(api, "fanny")
    r = await api.post(f"/api/rooms/{room['slug']}/socket-ticket", headers=headers)
    socket_ticket = (await r.json())["ticket"]
    assert await whip_status(api, room["slug"], socket_ticket) == 403


async def test_a_publish_ticket_never_opens_a_socket(api: Any) -> None:
    owner = await signup_login(api, "owner")
    room = await make_room(api, owner)
    ticket = (await (await publish_ticket(api, room["slug"], owner)).json())["ticket"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.ws_connect(f"/ws/rooms/{room['slug']}", params={"ticket": ticket})
    assert info.value.status == 401
