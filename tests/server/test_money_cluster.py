"""One webhook event delivered to two server processes at once, many times, on one
PostgreSQL and one Redis: one ledger posting, one applied event, one tip in the room."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from payments import tables as pt
from payments.signing import sign
from server.db import make_engine
from tests.conftest import REDIS_URL, drop_pg_schema, pg_url
from tests.server.test_webhooks import completed
from tests.support.roomsocket import RoomSocket

SECRET = "whsec_shared_between_nodes"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def token(http: aiohttp.ClientSession, base: str, name: str) -> str:
    body = {"username": name, "password": "correct horse battery"}
    assert (await http.post(f"{base}/api/accounts", json=body)).status == 201
    return str((await (await http.post(f"{base}/api/sessions", json=body)).json())["token"])


async def test_one_event_at_two_nodes_at_once_counts_once(server_process: Any, pg_schema: str, redis_prefix: str,
                                                          http: aiohttp.ClientSession) -> None:
    common = {"database": pg_url(pg_schema), "redis": REDIS_URL, "redis_prefix": redis_prefix,
              "stripe_webhook_secret": SECRET}
    a, b = server_process(**common), server_process(**common)
    owner, fan = await token(http, a.url, "perf"), await token(http, a.url, "fay")
    r = await http.post(f"{a.url}/api/rooms", json={"title": "Two"}, headers={"Authorization": f"Bearer {owner}"})
    slug = (await r.json())["slug"]
    r = await http.post(f"{a.url}/api/rooms/{slug}/tips", json={"amount": 500, "message": "hi both"},
                        headers={"Authorization": f"Bearer {fan}"})
    tip = await r.json()
    watchers = [await RoomSocket.connect(http, node.ws_url, slug, fan) for node in (a, b)]
    body = json.dumps(completed(tip["tip_id"], tip["checkout_url"].rsplit("/", 1)[1], "pi_two")).encode()
    headers = {"Stripe-Signature": sign(SECRET, int(time.time()), body), "Content-Type": "application/json"}

    async def deliver(base: str) -> int:
        async with http.post(f"{base}/webhooks/stripe", data=body, headers=headers) as answer:
            return answer.status

    statuses = await asyncio.gather(*(deliver(node.url) for node in (a, b) * 4))
    assert statuses == [200] * 8
    marker = await watchers[0].op("chat.send", text="after every delivery")
    assert marker["type"] == "ack"
    for sock in watchers:
        await sock.wait_for(lambda s=sock: any(e["type"] == "chat.message" for e in s.events))
        assert [e["data"]["id"] for e in sock.events if e["type"] == "tip"] == [tip["tip_id"]]
    engine = make_engine(pg_url(pg_schema))
    try:
        async with engine.connect() as conn:
            txs = (await conn.execute(sa.select(sa.func.count()).select_from(pt.transactions)
                                      .where(pt.transactions.c.idem_key == f"tip:{tip['tip_id']}"))).scalar()
            applied = (await conn.execute(sa.select(sa.func.count()).select_from(pt.payment_events))).scalar()
    finally:
        await engine.dispose()
    assert (txs, applied) == (1, 1)
    for sock in watchers:
        await sock.ws.close()
