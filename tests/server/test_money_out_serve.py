"""The money-out loop with the sandbox end to end in one ``notalabel serve`` (settlement every
half second inside it, a 1 s hold, PostgreSQL and SQLite): the owner's split sheet over
HTTP, a ticket and a tip paid through the sandbox checkout, the show ends, each stakeholder
sees their paid payout in the show's group on ``/api/me/earnings``; a refund afterwards is
taken back from the paid transfers; every balance exact and ``notalabel ledger check`` passes."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.wait import wait_until

pytestmark = pytest.mark.timeout(600)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def signup(http: aiohttp.ClientSession, name: str) -> dict[str, str]:
    body = {"username": name, "password": "correct horse battery"}
    assert (await http.post("/api/accounts", json=body)).status == 201
    token = (await (await http.post("/api/sessions", json=body)).json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def checkout(http: aiohttp.ClientSession, url: str) -> None:
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert (await http.post(f"/{path}/pay")).status == 200


async def earnings(http: aiohttp.ClientSession, who: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = await (await http.get("/api/me/earnings", headers=who)).json()
    return body


async def ledger_check(database_url: str, data_dir: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server.cli", "ledger", "check",
                                                "--database", database_url, stdout=asyncio.subprocess.PIPE,
                                                cwd=str(data_dir))
    out, _ = await proc.communicate()
    return proc.returncode if proc.returncode is not None else -1, out.decode()


async def test_sandbox_money_out_in_one_serve(server_process: Any, database_url: str, tmp_path: Path) -> None:
    srv = server_process(database=database_url, payout_interval_s=0.5, payout_hold_s=1.0)
    async with aiohttp.ClientSession(base_url=srv.url) as http:
        perf, bass, fan = [await signup(http, n) for n in ("perf", "bass", "fay")]
        for who in (perf, bass):
            assert (await http.post("/api/me/payout-account", headers=who)).status == 201
        slug = (await (await http.post("/api/rooms", json={"title": "Serve show"}, headers=perf)).json())["slug"]
        lines = [{"username": "perf", "role": "artist", "bps": 7_000}, {"username": "bass", "role": "band", "bps": 3_000}]
        assert (await http.put(f"/api/rooms/{slug}/split-sheet", headers=perf, json={"lines": lines})).status == 200
        now = time.time()
        r = await http.post(f"/api/rooms/{slug}/shows", headers=perf,
                            json={"title": "Night", "starts_at": iso(now - 60), "ends_at": iso(now + 3_600)})
        show_id = (await r.json())["id"]
        r = await http.post(f"/api/shows/{show_id}/tiers", headers=perf, json={"name": "GA", "price": 3_000})
        tier_id = (await r.json())["id"]
        order = await (await http.post(f"/api/shows/{show_id}/orders", headers=fan, json={"tier_id": tier_id})).json()
        await checkout(http, order["checkout_url"])
        tip = await (await http.post(f"/api/rooms/{slug}/tips", headers=fan, json={"amount": 1_000})).json()
        await checkout(http, tip["checkout_url"])
        before = {n: (await earnings(http, w))["balances"][0] for n, w in (("perf", perf), ("bass", bass))}
        assert all(b["in_hold"] == b["earnings"] > 0 for b in before.values())  # the show is on
        assert (await earnings(http, bass))["payouts"] == []

        # The show ends; once its hold passes, the timer inside serve pays both.
        r = await http.patch(f"/api/shows/{show_id}", headers=perf, json={"ends_at": iso(time.time() + 1)})
        assert r.status == 200, await r.text()
        for name, who in (("perf", perf), ("bass", bass)):
            got = await wait_until(lambda w=who: earnings(http, w),  # type: ignore[misc]
                                   lambda e: [p["state"] for p in e["payouts"]] == ["paid"], timeout=120)
            [paid] = got["payouts"]
            assert (paid["amount"], paid["transfer_group"]) == (before[name]["earnings"], f"show:{show_id}")
            assert got["balances"][0]["paid"] == before[name]["earnings"] and got["balances"][0]["earnings"] == 0
            assert any(line["show"] == show_id for line in got["lines"])

        # The ticket refunded afterwards: each part is taken back from the paid transfers.
        r = await http.post(f"/api/payments/{order['order_id']}/refund", headers=perf)
        assert r.status == 202, await r.text()
        for who in (perf, bass):
            got = await wait_until(lambda w=who: earnings(http, w),  # type: ignore[misc]
                                   lambda e: e["balances"][0]["earnings"] == 0 and any(
                                       line["gross"] == 1_000 for line in e["lines"]), timeout=120)
            [paid] = got["payouts"]
            assert 0 < paid["reversed"] < paid["amount"]
            assert got["balances"][0]["paid"] == paid["amount"] - paid["reversed"]
        code, out = await ledger_check(database_url, tmp_path)
        assert code == 0, out
