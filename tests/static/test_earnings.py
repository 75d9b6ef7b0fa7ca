"""Money out with the sandbox on one real ``notalabel serve``: a fan tips through the sandbox
checkout while the room's show is on, split with a band member by the room's split sheet (set
over the API); both open sandbox payout accounts; the show ends and the operator's
``notalabel payouts run`` pays them in the show's transfer group; the band member opens
/earnings in Chromium on a 390 px phone: the show's line, the paid payout, the statement and
the tax summary downloads, every figure the ledger's. Nobody sees another party's figures;
no HTTP route runs payouts."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.static.conftest import Pages, bearer, create_room
from tests.support.servers import ServerProcess
from tests.support.wait import wait_until


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}", payout_hold_s=0)
    return proc


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def me(http: aiohttp.ClientSession, headers: dict[str, str]) -> str:
    async with http.get("/api/me", headers=headers) as r:
        return f"user:{(await r.json())['id']}"


async def earnings(http: aiohttp.ClientSession, headers: dict[str, str]) -> dict[str, Any]:
    async with http.get("/api/me/earnings", headers=headers) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def payouts_run(srv: ServerProcess) -> int:
    env = {**os.environ, "NOTALABEL_DATABASE": srv.settings["database"], "NOTALABEL_DATA_DIR": str(srv.data_dir),
           "NOTALABEL_PAYOUT_HOLD_S": "0"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server.cli", "payouts", "run", env=env,
                                                stdout=asyncio.subprocess.DEVNULL)
    return await proc.wait()


async def test_band_member_sees_and_downloads_earnings(pages: Pages, http: aiohttp.ClientSession,
                                                        srv: ServerProcess) -> None:
    perf, fan, bass = await bearer(http, "perf"), await bearer(http, "fay"), await bearer(http, "bass")
    p_bass = await me(http, bass)
    slug = (await create_room(http, perf, "Split Night"))["slug"]
    lines = [{"username": "perf", "role": "artist", "bps": 6_000}, {"username": "bass", "role": "band", "bps": 4_000}]
    async with http.put(f"/api/rooms/{slug}/split-sheet", json={"lines": lines}, headers=perf) as r:
        assert r.status == 200, await r.text()  # the owner's split sheet: the tip is split by it
    now = time.time()
    async with http.post(f"/api/rooms/{slug}/shows", headers=perf, json={
            "title": "Split Night live", "starts_at": iso(now - 60), "ends_at": iso(now + 3_600)}) as r:
        assert r.status == 201, await r.text()
        show_id = (await r.json())["id"]
    async with http.post(f"/api/rooms/{slug}/tips", json={"amount": 2_000}, headers=fan) as r:  # during the show
        assert r.status == 201, await r.text()
        checkout = (await r.json())["checkout_url"]
    async with http.post("/" + checkout.split("://", 1)[1].split("/", 1)[1] + "/pay") as r:
        assert r.status < 400, await r.text()
    await wait_until(lambda: earnings(http, bass), lambda body: bool(body["lines"]))

    for headers in (perf, bass):
        async with http.post("/api/me/payout-account", headers=headers) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
            assert body["ready"] is True and body["onboarding_url"] is None
    async with http.post("/api/payouts/run", headers=perf) as r:
        assert r.status in (404, 405)  # settlement is the operator's CLI, never an HTTP command
    ends = time.time() + 1
    async with http.patch(f"/api/shows/{show_id}", headers=perf, json={"ends_at": iso(ends)}) as r:
        assert r.status == 200, await r.text()  # the show ends; its money is due once it has
    await wait_until(lambda: asyncio.to_thread(time.time), lambda t: t > ends + 0.5)
    assert await payouts_run(srv) == 0

    mine = await earnings(http, bass)
    share = 2_000 - 88 - 200
    [line] = mine["lines"]
    assert (line["room"], line["show"], line["gross"], line["fees"], line["commission"]) == (
        slug, show_id, 2_000, 88, 200)
    bass_share = line["share"]
    assert 0 < bass_share < share
    [payout] = mine["payouts"]
    assert (payout["amount"], payout["state"], payout["transfer_group"]) == (bass_share, "paid", f"show:{show_id}")
    [bal] = mine["balances"]
    assert (bal["available"], bal["in_transit"], bal["paid"], bal["earnings"]) == (0, 0, bass_share, 0)
    theirs = await earnings(http, fan)
    assert theirs["lines"] == [] and theirs["payouts"] == [] and theirs["party"] != mine["party"]
    [perf_line] = (await earnings(http, perf))["lines"]
    assert (perf_line["gross"], perf_line["items"], perf_line["share"]) == (2_000, 1, share - bass_share)

    ctx = await pages.browser.new_context(base_url=srv.url, viewport={"width": 390, "height": 844},
                                          accept_downloads=True)
    pages.contexts.append(ctx)
    r2 = await ctx.request.post("/api/sessions", data={"username": "bass", "password": "correct horse battery"})
    assert r2.status == 200
    page = await pages.open("/earnings", ctx=ctx)
    money = f"${bass_share // 100}.{bass_share % 100:02d}"
    row = page.locator("#lines tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(slug)
    await expect(row).to_contain_text(show_id)  # the show's line
    await expect(row).to_contain_text(money)
    await expect(page.locator("#payouts li")).to_contain_text(["paid"])
    await expect(page.locator("#account-state")).to_contain_text("Ready")
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    await pages.shot(page, "earnings-390")
    async with page.expect_download() as info:
        await page.locator("#statement-csv").click()
    statement = await asyncio.to_thread(Path(await (await info.value).path()).read_text)
    assert f",{bass_share}," in statement or statement.rstrip().endswith(str(bass_share))
    async with page.expect_download() as info:
        await page.locator("#tax-summary").click()
    tax = await asyncio.to_thread(Path(await (await info.value).path()).read_text)
    year = time.strftime("%Y", time.gmtime())
    assert f"{year},{p_bass},USD,earned_tip,{bass_share}" in tax
    assert f"{year},{p_bass},USD,paid_out,{bass_share}" in tax

