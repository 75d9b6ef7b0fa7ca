"""Accounts, sessions, rooms, hosts and songs over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.support.api import make_room, signup_login

SONG = {"title": "Blue Hour", "artist": "The Band", "iswc": "T-345.246.800-1",
        "writers": [{"name": "Ann", "share_bps": 6000, "ipi": "00052210040"}, {"name": "Bo", "share_bps": 4000}]}


async def test_signup_login_logout(api: Any) -> None:
    headers = await signup_login(api, "alice")
    r = await api.get("/api/me", headers=headers)
    assert (await r.json())["username"] == "alice"
    r = await api.delete("/api/sessions", headers=headers)
    assert r.status == 204
    r = await api.get("/api/me", headers=headers)
    assert r.status == 401


async def test_duplicate_username_and_bad_passwords(api: Any) -> None:
    await signup_login(api, "alice")
    r = await api.post("/api/accounts", json={"username": "ALICE", "password": "another pw"})
    assert r.status == 409 and (await r.json())["error"] == "username_taken"
    r = await api.post("/api/sessions", json={"username": "alice", "password": "wrong password"})
    assert r.status == 401 and (await r.json())["error"] == "bad_login"
    r = await api.post("/api/sessions", json={"username": "nobody", "password": "wrong password"})
    assert r.status == 401
    r = await api.post("/api/accounts", json={"username": "bob", "password": "short"})
    assert r.status == 400
    r = await api.post("/api/accounts", json={"username": "b<script>", "password": "long enough"})
    assert r.status == 400


async def test_bad_bodies_are_refused_and_counted(api: Any) -> None:
    r = await api.post("/api/accounts", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"] == "bad_json"
    r = await api.post("/api/accounts", json=[1, 2])
    assert r.status == 400
    r = await api.post("/api/accounts", data=b"x" * 200_000)
    assert r.status == 413
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="bad_json"}' in metrics
    assert 'nal_bad_input_total{kind="too_large"}' in metrics
    # Nothing accepted before was lost.
    await signup_login(api, "carol")


async def test_cookie_session_needs_csrf_for_writes(api: Any) -> None:
    await api.post("/api/accounts", json={"username": "dana", "password": "correct horse"})
    r = await api.post("/api/sessions", json={"username": "dana", "password": "correct horse"})
    csrf = (await r.json())["csrf"]
    assert "nal_session" in r.cookies and r.cookies["nal_session"]["httponly"]
    # The client's cookie jar now carries the session.
    r = await api.get("/api/me")
    assert r.status == 200
    r = await api.post("/api/rooms", json={"title": "no csrf"})
    assert r.status == 403 and (await r.json())["error"] == "csrf"
    r = await api.post("/api/rooms", json={"title": "with csrf"}, headers={"X-CSRF-Token": csrf})
    assert r.status == 201


async def test_room_creation_and_urls(api: Any) -> None:
    headers = await signup_login(api, "perf")
    room = await make_room(api, headers, "Late Night Set!")
    assert room["slug"].startswith("late-night-set-")
    assert room["stream_key"].startswith("live_")
    assert room["ingest"]["rtmp"]["server"].endswith("/live")
    assert room["playback"]["hls"].endswith(f"/live/{room['slug']}/index.m3u8")
    r = await api.get(f"/api/rooms/{room['slug']}")
    body = await r.json()
    assert body["role"] == "guest" and "stream_key" not in body
    assert room["stream_key"] not in await r.text()
    r = await api.post("/api/rooms", json={"title": "x"})
    assert r.status == 401
    r = await api.get("/api/rooms/nope")
    assert r.status == 404


async def test_authorization_matrix_for_room_admin(api: Any) -> None:
    owner = await signup_login(api, "owner1")
    host = await signup_login(api, "host1")
    fan = await signup_login(api, "fan1")
    slug = (await make_room(api, owner))["slug"]
    base = f"/api/rooms/{slug}"

    # Only the owner rotates keys and manages hosts.
    for who in (host, fan, {}):
        refused = 403 if who else 401  # signed in but not allowed, or not signed in
        r = await api.post(f"{base}/stream-key", headers=who)
        assert r.status == refused
        r = await api.post(f"{base}/hosts", json={"username": "host1"}, headers=who)
        assert r.status == refused
    r = await api.post(f"{base}/stream-key", headers=owner)
    assert r.status == 200 and (await r.json())["stream_key"].startswith("live_")
    r = await api.post(f"{base}/hosts", json={"username": "host1"}, headers=owner)
    assert r.status == 201 and (await r.json())["hosts"] == ["host1"]
    r = await api.get(base, headers=host)
    assert (await r.json())["role"] == "host"

    # Owner and host manage songs, a fan and a guest cannot.
    for who in (fan, {}):
        r = await api.post(f"{base}/songs", json=SONG, headers=who)
        assert r.status == (403 if who else 401)
    r = await api.post(f"{base}/songs", json=SONG, headers=host)
    assert r.status == 201
    song = await r.json()
    assert song["writers"][0]["share_bps"] == 6000
    r = await api.patch(f"{base}/songs/{song['id']}", json={"title": "Blue Hour (live)"}, headers=owner)
    assert (await r.json())["title"] == "Blue Hour (live)"
    r = await api.delete(f"{base}/songs/{song['id']}", headers=fan)
    assert r.status == 403
    r = await api.delete(f"{base}/songs/{song['id']}", headers=host)
    assert r.status == 204

    r = await api.delete(f"{base}/hosts/host1", headers=host)
    assert r.status == 403
    r = await api.delete(f"{base}/hosts/host1", headers=owner)
    assert r.status == 204
    r = await api.get(base, headers=host)
    assert (await r.json())["role"] == "fan"


async def test_song_split_must_sum_to_10000(api: Any) -> None:
    owner = await signup_login(api, "owner2")
    slug = (await make_room(api, owner))["slug"]
    bad = {**SONG, "writers": [{"name": "Ann", "share_bps": 5000}, {"name": "Bo", "share_bps": 4000}]}
    r = await api.post(f"/api/rooms/{slug}/songs", json=bad, headers=owner)
    assert r.status == 400 and (await r.json())["error"] == "bad_split"
    r = await api.post(f"/api/rooms/{slug}/songs", json={**SONG, "iswc": "nope"}, headers=owner)
    assert r.status == 400


async def test_openapi_and_health(api: Any) -> None:
    doc = await (await api.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/rooms"]
    assert (await api.get("/healthz")).status == 200
    ready = await (await api.get("/readyz")).json()
    assert ready["checks"]["database"] == "ok"
