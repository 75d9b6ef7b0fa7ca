"""The room's ban list for its owner and hosts, and a ban taking the fan's request out of the queue."""

from __future__ import annotations

from typing import Any

from tests.support.api import make_room, signup_login
from tests.support.roomsocket import RoomSocket


async def staff_socket(api: Any, slug: str, headers: dict[str, str]) -> RoomSocket:
    ws = await api.ws_connect(f"/ws/rooms/{slug}", params={"token": headers["Authorization"][7:]})
    sock = RoomSocket(ws)
    await sock.wait_for(lambda: sock.snapshot is not None)
    return sock


async def test_bans_are_listed_for_staff_only_and_unban_empties_the_list(api: Any) -> None:
    owner = await signup_login(api, "owner")
    host = await signup_login(api, "hosty")
    fan = await signup_login(api, "fanny")
    await signup_login(api, "troll")
    room = await make_room(api, owner)
    slug = room["slug"]
    assert (await api.post(f"/api/rooms/{slug}/hosts", json={"username": "hosty"}, headers=owner)).status == 201
    r = await api.get(f"/api/rooms/{slug}/bans", headers=owner)
    assert r.status == 200 and (await r.json()) == {"bans": []}
    sock = await staff_socket(api, slug, host)
    assert (await sock.op("mod.ban", user="troll"))["type"] == "ack"
    for who in (owner, host):
        r = await api.get(f"/api/rooms/{slug}/bans", headers=who)
        bans = (await r.json())["bans"]
        assert [(b["username"], b["by"]) for b in bans] == [("troll", "hosty")] and bans[0]["created_at"]
    assert (await api.get(f"/api/rooms/{slug}/bans", headers=fan)).status == 403
    assert (await api.get(f"/api/rooms/{slug}/bans")).status == 401
    assert (await api.get("/api/rooms/nope/bans", headers=owner)).status == 404
    assert (await sock.op("mod.unban", user="troll"))["type"] == "ack"
    r = await api.get(f"/api/rooms/{slug}/bans", headers=owner)
    assert (await r.json())["bans"] == []
    await sock.close()


async def test_a_banned_fans_request_leaves_the_queue(api: Any) -> None:
    owner = await signup_login(api, "owner")
    troll = await signup_login(api, "troll")
    room = await make_room(api, owner)
    slug = room["slug"]
    r = await api.post(f"/api/rooms/{slug}/songs", json={"title": "Blue Hour"}, headers=owner)
    song_id = (await r.json())["id"]
    fan_sock = await staff_socket(api, slug, troll)
    assert (await fan_sock.op("song.request", song_id=song_id))["type"] == "ack"
    staff = await staff_socket(api, slug, owner)
    assert staff.snapshot is not None and len(staff.snapshot["data"]["queue"]) == 1
    assert (await staff.op("mod.ban", user="troll"))["type"] == "ack"
    await staff.wait_for(lambda: any(e["data"]["queue"] == [] for e in staff.of_type("song.queue")))
    await staff.close()
    await fan_sock.close()
