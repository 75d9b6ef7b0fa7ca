"""Room socket caps wired from the settings (issue 16 item 8; the rules: tests/rooms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.api import make_room, signup_login
from tests.support.servers import free_port


async def test_guest_sockets_per_address_come_from_the_settings(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    from server.app import make_app
    from server.config import Settings

    settings = Settings(data_dir=str(tmp_path), http=f"127.0.0.1:{free_port()}", ws_guests_per_address=1)
    client = await aiohttp_client(await make_app(settings))
    owner = await signup_login(client, "olga")
    slug = (await make_room(client, owner))["slug"]
    guest = await client.ws_connect(f"/ws/rooms/{slug}")
    assert (await guest.receive_json(timeout=5))["type"] == "snapshot"
    r = await client.get(f"/ws/rooms/{slug}")
    assert r.status == 429 and (await r.json())["error"] == "too_many_sockets"
    fan = await client.ws_connect(f"/ws/rooms/{slug}", headers=owner)  # signed in: per user
    assert (await fan.receive_json(timeout=5))["type"] == "snapshot"
    await guest.close()
    await fan.close()
