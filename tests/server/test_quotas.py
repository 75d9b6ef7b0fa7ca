"""Quotas: the song catalog is capped and paged; rooms and sign-ups are rationed (issue 16 item 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.api import make_room, signup_login
from tests.support.servers import free_port


async def _api(aiohttp_client: Any, tmp_path: Path, database_url: str, **settings: Any) -> Any:
    from server.app import make_app
    from server.config import Settings

    app = await make_app(Settings(data_dir=str(tmp_path), database=database_url,
                                  http=f"127.0.0.1:{free_port()}", **settings))
    return await aiohttp_client(app)


async def _refused(client: Any, reason: str) -> float:
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith(f'nal_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_the_catalog_is_capped_with_a_clear_error(aiohttp_client: Any, tmp_path: Path, database_url: str) -> None:
    api = await _api(aiohttp_client, tmp_path, database_url, max_songs_per_room=3)
    headers = await signup_login(api, "perf")
    slug = (await make_room(api, headers))["slug"]
    ids = []
    for i in range(3):
        r = await api.post(f"/api/rooms/{slug}/songs", json={"title": f"Song {i}"}, headers=headers)
        assert r.status == 201
        ids.append((await r.json())["id"])
    r = await api.post(f"/api/rooms/{slug}/songs", json={"title": "One too many"}, headers=headers)
    assert r.status == 409
    body = await r.json()
    assert body["error"] == "catalog_full" and "3" in body["message"]
    assert await _refused(api, "catalog_full") >= 1
    # Nothing accepted is lost, and removing one makes room again.
    r = await api.get(f"/api/rooms/{slug}/songs")
    assert [s["id"] for s in (await r.json())["songs"]] == ids
    assert (await api.delete(f"/api/rooms/{slug}/songs/{ids[0]}", headers=headers)).status == 204
    r = await api.post(f"/api/rooms/{slug}/songs", json={"title": "Now it fits"}, headers=headers)
    assert r.status == 201


async def test_the_catalog_is_read_a_page_at_a_time(aiohttp_client: Any, tmp_path: Path, database_url: str) -> None:
    api = await _api(aiohttp_client, tmp_path, database_url)
    headers = await signup_login(api, "perf")
    slug = (await make_room(api, headers))["slug"]
    for i in range(5):
        r = await api.post(f"/api/rooms/{slug}/songs", json={"title": f"Song {i}"}, headers=headers)
        assert r.status == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:  # a guest reads it, two at a time
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        r = await api.get(f"/api/rooms/{slug}/songs{query}")
        assert r.status == 200
        page = await r.json()
        assert len(page["songs"]) <= 2
        seen += [s["title"] for s in page["songs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Song {i}" for i in range(5)] and pages == 3
    whole = await (await api.get(f"/api/rooms/{slug}/songs")).json()
    assert [s["title"] for s in whole["songs"]] == seen and whole["next_cursor"] is None
    for query in ("?limit=0", "?limit=201", "?limit=x", "?cursor=abc", "?cursor=-1"):
        r = await api.get(f"/api/rooms/{slug}/songs{query}")
        assert r.status == 400 and (await r.json())["error"] == "bad_query", query


async def test_an_account_owns_at_most_max_rooms(aiohttp_client: Any, tmp_path: Path, database_url: str) -> None:
    api = await _api(aiohttp_client, tmp_path, database_url, max_rooms_per_account=2)
    headers = await signup_login(api, "perf")
    for _ in range(2):
        await make_room(api, headers)
    r = await api.post("/api/rooms", json={"title": "third"}, headers=headers)
    assert r.status == 409 and (await r.json())["error"] == "room_quota"
    assert await _refused(api, "room_quota") >= 1
    await make_room(api, await signup_login(api, "other"))  # another account is not held


async def test_room_creation_is_rate_limited_per_account(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await _api(aiohttp_client, tmp_path, f"sqlite:///{tmp_path / 'q.sqlite3'}",
                     room_creates_per_hour_per_account=2)
    headers = await signup_login(api, "perf")
    for _ in range(2):
        await make_room(api, headers)
    r = await api.post("/api/rooms", json={"title": "third"}, headers=headers)
    assert r.status == 429 and (await r.json())["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    assert await _refused(api, "room_creation_rate") >= 1
    await make_room(api, await signup_login(api, "other"))
    rooms = (await (await api.get("/api/rooms")).json())["rooms"]
    assert len(rooms) == 3


async def test_room_creation_is_rate_limited_per_address(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await _api(aiohttp_client, tmp_path, f"sqlite:///{tmp_path / 'q.sqlite3'}",
                     room_creates_per_hour_per_address=3)
    for name in ("addr1", "addr2", "addr3"):
        await make_room(api, await signup_login(api, name))
    r = await api.post("/api/rooms", json={"title": "spam"}, headers=await signup_login(api, "addr4"))
    assert r.status == 429 and "Retry-After" in r.headers


async def test_sign_up_is_rate_limited_per_address(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await _api(aiohttp_client, tmp_path, f"sqlite:///{tmp_path / 'q.sqlite3'}",
                     signups_per_hour_per_address=3)
    for name in ("sign1", "sign2", "sign3"):
        await signup_login(api, name)
    r = await api.post("/api/accounts", json={"username": "sign4", "password": "correct horse"})
    assert r.status == 429
    assert (await r.json())["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert await _refused(api, "signup_rate") >= 1
    r = await api.post("/api/sessions", json={"username": "sign1", "password": "correct horse"})
    assert r.status == 200  # accounts made before still sign in
