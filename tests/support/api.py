"""Small helpers for talking to our HTTP API in tests."""

from __future__ import annotations

from typing import Any


async def signup_login(client: Any, username: str, password: str = "correct horse") -> dict[str, str]:
    """Create an account, log in, return bearer headers."""
    r = await client.post("/api/accounts", json={"username": username, "password": password})
    assert r.status == 201, await r.text()
    r = await client.post("/api/sessions", json={"username": username, "password": password})
    assert r.status == 200, await r.text()
    token = (await r.json())["token"]
    client.session.cookie_jar.clear()  # bearer only, so other requests stay anonymous
    return {"Authorization": f"Bearer {token}"}


async def make_room(client: Any, headers: dict[str, str], title: str = "Friday Show") -> dict[str, Any]:
    r = await client.post("/api/rooms", json={"title": title}, headers=headers)
    assert r.status == 201, await r.text()
    room: dict[str, Any] = await r.json()
    return room
