"""A node's session cache: what it keeps, for how long, and that an ended session is refused
at once on the node that ended it and, with Redis, on every other node."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from server.session_cache import SessionCache
from tests.conftest import REDIS_URL, drop_pg_schema, pg_url
from tests.support.api import signup_login

PASSWORD = "correct horse"


@pytest.fixture
def pg_schema() -> Any:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_kept_for_its_ttl_and_never_past_the_sessions_expiry() -> None:
    clock = Clock()
    cache: SessionCache[str] = SessionCache(2.0, clock=clock)
    cache.put("a", "alice", expires_at=1_000.0)
    cache.put("b", "bob", expires_at=500.0)
    assert cache.get("a", 400.0) == "alice" and cache.get("b", 400.0) == "bob"
    assert cache.get("b", 500.0) is None  # the session itself expired
    clock.now += 2.0
    assert cache.get("a", 400.0) is None  # read too long ago: the next request reads again
    assert cache.get("missing", 400.0) is None


def test_drop_and_the_size_bound_and_off() -> None:
    cache: SessionCache[int] = SessionCache(60.0, max_entries=2, clock=Clock())
    for i, key in enumerate("abc"):
        cache.put(key, i, expires_at=1e12)
    assert cache.get("a", 0.0) is None and cache.get("b", 0.0) == 1 and cache.get("c", 0.0) == 2
    cache.drop("b")
    assert cache.get("b", 0.0) is None
    off: SessionCache[int] = SessionCache(0.0)
    off.put("a", 1, expires_at=1e12)
    assert off.get("a", 0.0) is None


async def test_logging_out_is_refused_at_once_here(api: Any) -> None:
    headers = await signup_login(api, "carol")
    assert (await api.get("/api/me", headers=headers)).status == 200  # now cached
    assert (await api.delete("/api/sessions", headers=headers)).status in (200, 204)
    assert (await api.get("/api/me", headers=headers)).status == 401


async def test_an_ended_session_is_refused_on_every_node(server_process: Any, pg_schema: str,
                                                         redis_prefix: str) -> None:
    # A cache time far longer than the test: only Redis's message can make node b refuse.
    common = {"database": pg_url(pg_schema), "redis": REDIS_URL, "redis_prefix": redis_prefix,
              "session_cache_s": 3600}
    a, b = server_process(**common), server_process(**common)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        body = {"username": "dana", "password": PASSWORD}
        assert (await http.post(f"{a.url}/api/accounts", json=body)).status == 201
        tokens = [(await (await http.post(f"{a.url}/api/sessions", json=body)).json())["token"] for _ in range(2)]
        first, second = ({"Authorization": f"Bearer {tok}"} for tok in tokens)
        for headers in (first, second):
            assert (await http.get(f"{b.url}/api/me", headers=headers)).status == 200  # b caches both
        assert (await http.delete(f"{a.url}/api/sessions", headers=first)).status in (200, 204)
        sessions = (await (await http.get(f"{a.url}/api/me/sessions", headers=second)).json())["sessions"]
        assert (await http.delete(f"{a.url}/api/me/sessions/{sessions[0]['id']}", headers=second)).status == 204
        for headers in (first, second):
            status = 200
            for _ in range(500):  # a message on loopback: well under a second; bounded all the same
                status = (await http.get(f"{b.url}/api/me", headers=headers)).status
                if status == 401:
                    break
            assert status == 401
