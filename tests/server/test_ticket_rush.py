"""No oversell under real concurrency: 300 buyers rush a 100-seat tier on real server
processes (two on PostgreSQL, one on SQLite). Some pay at once through the sandbox, some
abandon their hold, some pay after their hold expired (a short ``--ticket-hold-s``); the
buyers who were told "sold out" keep trying while seats come free.

The end: exactly 100 valid tickets, every paid order has its ticket or was refunded
(``refunded_sold_out``, the payment refunded through the provider), no live hold, and
``notalabel ledger check`` passes.

Accounts and sessions are written straight into the database (sign-up is rationed per
address and hashes passwords: 300 of them would test argon2, not tickets).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from payments import tables as pt
from server import tables as st
from server.auth import token_hash
from server.db import make_engine
from tests.conftest import drop_pg_schema, pg_url
from tests.support.servers import ServerProcess
from ticketing import tables as tt

SEATS = 100
BUYERS = 300
HOLD_S = 2.0


async def add_fans(url: str, n: int) -> list[dict[str, str]]:
    engine = make_engine(url)
    now = time.time()
    headers = []
    try:
        async with engine.begin() as conn:
            first = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(st.users.c.id), 0)))).scalar_one() + 1
            for i in range(n):
                uid = first + i
                await conn.execute(st.users.insert().values(id=uid, username=f"rush{uid}", password_hash="-",
                                                            created_at=now))
                token = secrets.token_urlsafe(24)
                await conn.execute(st.sessions.insert().values(
                    token_hash=token_hash(token), user_id=uid, csrf="-", created_at=now, expires_at=now + 3600,
                    id="ses_" + secrets.token_hex(8), last_seen_at=now))
                headers.append({"Authorization": f"Bearer {token}"})
            if engine.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('users', 'id'), "
                                           "(SELECT max(id) FROM users))"))
    finally:
        await engine.dispose()
    return headers


async def json_of(r: aiohttp.ClientResponse) -> Any:
    assert r.status < 500, await r.text()
    return await r.json()


async def setup_show(http: aiohttp.ClientSession, base: str) -> tuple[dict[str, str], str, str]:
    body = {"username": "rushowner", "password": "correct horse battery"}
    assert (await http.post(f"{base}/api/accounts", json=body)).status == 201
    owner = {"Authorization": f"Bearer {(await json_of(await http.post(f'{base}/api/sessions', json=body)))['token']}"}
    room = await json_of(await http.post(f"{base}/api/rooms", json={"title": "Rush"}, headers=owner))
    show = await json_of(await http.post(f"{base}/api/rooms/{room['slug']}/shows", headers=owner,
                                         json={"title": "On sale now", "starts_at": "2031-01-01T20:00:00Z"}))
    tier = await json_of(await http.post(f"{base}/api/shows/{show['id']}/tiers", headers=owner,
                                         json={"name": "GA", "price": 1500, "quantity": SEATS}))
    return owner, show["id"], tier["id"]


class Rush:
    def __init__(self, http: aiohttp.ClientSession, nodes: list[str], show_id: str, tier_id: str) -> None:
        self.http, self.nodes, self.show_id, self.tier_id = http, nodes, show_id, tier_id
        self.sold_out = asyncio.Event()
        self.outcomes: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    async def order(self, base: str, fan: dict[str, str]) -> dict[str, Any] | None:
        r = await self.http.post(f"{base}/api/shows/{self.show_id}/orders", json={"tier_id": self.tier_id},
                                 headers=fan)
        if r.status == 409:
            assert (await r.json())["error"] == "sold_out"
            return None
        answer: dict[str, Any] = await json_of(r)
        assert r.status == 201, answer
        return answer

    async def pay(self, order: dict[str, Any]) -> None:
        url = order["checkout_url"]
        r = await self.http.post(url + "/pay")
        assert r.status == 200, await r.text()

    async def buyer(self, i: int, fan: dict[str, str]) -> None:
        base = self.nodes[i % len(self.nodes)]  # the sandbox session lives on the node that opened it
        kind = ("abandon", "abandon", "late")[i % 10] if i % 10 < 3 else "pay"
        deadline = time.monotonic() + 120
        while not self.sold_out.is_set() and time.monotonic() < deadline:
            order = await self.order(base, fan)
            if order is None:
                await asyncio.sleep(random.uniform(0.3, 0.8))
                continue
            if kind == "abandon":
                self.count("abandoned")
                return
            if kind == "late":
                expires = datetime.fromisoformat(order["hold_expires_at"]).timestamp()
                await asyncio.sleep(max(0.0, expires - time.time()) + 0.3)
                self.count("paid_late")
            else:
                self.count("paid")
            await self.pay(order)
            return

    async def watch(self, owner: dict[str, str]) -> None:
        while not self.sold_out.is_set():
            show = await json_of(await self.http.get(f"{self.nodes[0]}/api/shows/{self.show_id}", headers=owner))
            if show["tiers"][0]["sold"] >= SEATS:
                self.sold_out.set()
            await asyncio.sleep(0.2)


async def until(check: Callable[[], Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def rush_and_check(url: str, nodes: list[ServerProcess]) -> None:
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        owner, show_id, tier_id = await setup_show(http, nodes[0].url)
        fans = await add_fans(url, BUYERS)
        rush = Rush(http, [n.url for n in nodes], show_id, tier_id)
        watcher = asyncio.create_task(rush.watch(owner))
        await asyncio.gather(*(rush.buyer(i, fan) for i, fan in enumerate(fans)))
        await asyncio.wait_for(watcher, 30)
    assert rush.outcomes.get("paid_late", 0) > 0 and rush.outcomes.get("abandoned", 0) > 0, rush.outcomes
    engine = make_engine(url)
    try:
        async def settled() -> bool:
            async with engine.connect() as conn:
                o = tt.orders.c
                pending = (await conn.execute(sa.select(sa.func.count()).select_from(tt.orders).where(
                    o.status == "refunded_sold_out"))).scalar_one()
                refunded = (await conn.execute(sa.select(sa.func.count()).select_from(pt.payments).where(
                    pt.payments.c.kind == "ticket", pt.payments.c.status == "refunded"))).scalar_one()
                live = (await conn.execute(sa.select(sa.func.count()).select_from(tt.orders).where(
                    o.status == "held", o.expires_at > time.time()))).scalar_one()
            return bool(pending == refunded and live == 0)

        await until(settled)
        async with engine.connect() as conn:
            k, o, p = tt.tickets.c, tt.orders.c, pt.payments.c
            valid = (await conn.execute(sa.select(sa.func.count()).select_from(tt.tickets)
                                        .where(k.status == "valid"))).scalar_one()
            assert valid == SEATS
            by_status = dict((await conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status))).all())
            assert by_status.get("paid") == SEATS, by_status
            paid_payments = dict((await conn.execute(sa.select(p.status, sa.func.count()).where(p.kind == "ticket")
                                                     .group_by(p.status))).all())
            # every payment that completed is a ticket or was given back
            assert paid_payments.get("paid", 0) == SEATS, paid_payments
            assert paid_payments.get("refunded", 0) == by_status.get("refunded_sold_out", 0), paid_payments
            assert by_status.get("refunded_sold_out", 0) > 0, by_status
    finally:
        await engine.dispose()
    check = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.cli", "ledger", "check", "--database", url],
        capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


NODE = {"ticket_hold_s": HOLD_S, "http_conns_per_address": 0, "secret_key": "rush-secret", "log_level": "warning"}


async def test_no_oversell_on_postgresql_with_two_processes(server_process: Any) -> None:
    schema = "t_rush_" + uuid.uuid4().hex[:10]
    url = pg_url(schema)
    nodes: list[ServerProcess] = []
    try:
        nodes += [server_process(database=url, **NODE) for _ in range(2)]
        await rush_and_check(url, nodes)
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)  # before the schema goes (the fixture's stop again is a no-op)
        await asyncio.to_thread(drop_pg_schema, schema)


async def test_no_oversell_on_sqlite_with_one_process(server_process: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rush.sqlite3'}"
    await rush_and_check(url, [server_process(database=url, **NODE)])


pytestmark = pytest.mark.timeout(600)
