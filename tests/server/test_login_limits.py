"""Log-ins: hashing in a bounded pool off the loop, throttled per account and per address."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from server.auth import PASSWORDS
from tests.support.api import signup_login
from tests.support.apps import sqlite_api

MakeApi = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_api(aiohttp_client: Any, tmp_path: Path) -> MakeApi:
    async def make(**overrides: Any) -> Any:
        return await sqlite_api(aiohttp_client, tmp_path, **overrides)

    return make


async def login(api: Any, username: str, password: str) -> Any:
    return await api.post("/api/sessions", json={"username": username, "password": password})


async def wait_until(predicate: Callable[[], bool], tries: int = 2000) -> None:
    """Poll a condition (bounded); tests assert behaviour, not speed."""
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


async def test_wrong_passwords_are_throttled_per_account(make_api: MakeApi, caplog: Any) -> None:
    api = await make_api(login_account_attempts=3, login_address_attempts=100)
    await signup_login(api, "alice")
    caplog.set_level(logging.WARNING, logger="notalabel.auth")
    for _ in range(3):
        assert (await login(api, "alice", "wrong password")).status == 401
    r = await login(api, "alice", "wrong password")
    assert r.status == 429 and (await r.json())["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1
    # The right password waits for the throttle too.
    r = await login(api, "alice", "correct horse")
    assert r.status == 429 and "Retry-After" in r.headers
    # Another account from the same address is not held by alice's throttle.
    await signup_login(api, "bobby")
    failed = [rec for rec in caplog.records if rec.getMessage() == "login failed"]
    assert len(failed) == 3 and all(rec.username == "alice" and rec.address for rec in failed)
    assert not any("wrong password" in str(vars(rec)) for rec in caplog.records)
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_refused_total{reason="login_throttled"}' in metrics


async def test_wrong_passwords_are_throttled_per_address(make_api: MakeApi) -> None:
    api = await make_api(login_account_attempts=100, login_address_attempts=4)
    for n in range(4):
        assert (await login(api, f"user{n}", "wrong password")).status == 401
    r = await login(api, "someone-else", "wrong password")
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1


async def test_right_passwords_are_never_throttled(make_api: MakeApi) -> None:
    api = await make_api(login_account_attempts=2, login_address_attempts=2)
    await signup_login(api, "carol")
    for _ in range(6):
        assert (await login(api, "carol", "correct horse")).status == 200


async def test_hashing_is_off_the_loop_and_bounded(make_api: MakeApi) -> None:
    api = await make_api(password_workers=1, password_queue=2)
    pool = api.app[PASSWORDS]
    release = threading.Event()
    blocker = pool.executor.submit(release.wait, 30)  # holds the only hashing thread
    try:
        logins = [asyncio.create_task(login(api, f"fan{n}", "wrong password")) for n in range(3)]
        await wait_until(lambda: pool.admitted == 3)
        # Three hashes are in flight or queued, and the loop still answers.
        r = await api.get("/healthz")
        assert r.status == 200
        assert not any(task.done() for task in logins)
        r = await login(api, "fan9", "wrong password")
        assert r.status == 503 and (await r.json())["error"] == "busy" and r.headers["Retry-After"] == "1"
        r = await api.post("/api/accounts", json={"username": "newbie", "password": "correct horse"})
        assert r.status == 503
    finally:
        release.set()
    blocker.result()
    assert [r.status for r in await asyncio.gather(*logins)] == [401, 401, 401]
    assert pool.admitted == 0
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_refused_total{reason="password_pool_full"}' in metrics
