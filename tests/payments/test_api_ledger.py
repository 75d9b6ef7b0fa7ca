"""The owner's own balances and statements over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from payments.ledger import Ledger
from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from server import api_ledger
from server.keys import ENGINE
from tests.support.api import signup_login
from tests.support.servers import free_port


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    from server.app import make_app
    from server.config import Settings

    settings = Settings(data_dir=str(tmp_path), database=database_url, http=f"127.0.0.1:{free_port()}")
    app = await make_app(settings)
    api_ledger.setup(app)
    api_ledger.setup(app)  # idempotent, whether or not the app factory already did it
    yield await aiohttp_client(app)


async def test_my_balances_and_statement(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/me/balances")).status == 401
    headers = await signup_login(client, "artist1")
    me = await (await client.get("/api/me", headers=headers)).json()
    party = f"user:{me['id'] if 'id' in me else me['user_id']}"
    ledger = Ledger(client.app[ENGINE])
    sheet = SplitSheet((Share(party, 10_000, Role.ARTIST),))
    await ledger.record_tip("t1", Revenue(1_000, "EUR", sheet, fee=0, room="jazz"))
    await ledger.record_tip("t2", Revenue(2_000, "EUR", sheet, fee=0, room="jazz"))

    r = await client.get("/api/me/balances", headers=headers)
    assert r.status == 200
    body = await r.json()
    assert body["party"] == party
    assert {"account": "earnings", "currency": "EUR", "balance": 2_700} in body["balances"]

    r = await client.get("/api/me/statement?from=2000-01-01&to=2100-01-01", headers=headers)
    assert r.status == 200
    st = json.loads(await r.text())
    assert [m["key"] for m in st["movements"] if m["account"] == "earnings"] == ["t1", "t2"]
    assert any(a["account"] == "earnings" and a["opening"] == 0 and a["closing"] == 2_700 for a in st["accounts"])

    r = await client.get("/api/me/statement?from=2000-01-01&to=2100-01-01&format=csv", headers=headers)
    assert r.status == 200 and r.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [row["amount"] for row in rows if row["row"] == "movement" and row["account"] == "earnings"] == ["900", "1800"]

    other = await signup_login(client, "fan1")
    r = await client.get("/api/me/balances", headers=other)
    assert (await r.json())["balances"] == []
    r = await client.get("/api/me/statement?from=yesterday", headers=headers)
    assert r.status == 400
    r = await client.get("/api/me/statement?format=pdf", headers=headers)
    assert r.status == 400
