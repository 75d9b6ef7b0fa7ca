"""``notalabel ledger check|statement|balances|setlist`` on both databases."""

from __future__ import annotations

import asyncio
import json

import pytest

from payments import tables as t
from payments.ledger import Ledger
from server.ledger_cli import main, parse_when
from tests.payments.conftest import DB
from tests.payments.helpers import ARTIST, tip


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(argv))
    return code, capsys.readouterr().out


async def test_check_statement_and_failure_exit_code(db: DB, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger(db.engine, clock=lambda: parse_when("2024-03-10"))
    await ledger.record_tip("t1", tip(1_000, 59))
    code, out = await cli(capsys, "check", "--database", db.url)
    assert code == 0 and "ledger check: ok" in out

    code, out = await cli(capsys, "statement", "--party", ARTIST, "--from", "2024-03-01", "--to", "2024-03-31",
                          "--database", db.url)
    assert code == 0
    body = json.loads(out)
    assert body["from"] == "2024-03-01T00:00:00Z" and body["to"] == "2024-04-01T00:00:00Z"
    assert [m["amount"] for m in body["movements"]] == [505]
    code, out = await cli(capsys, "statement", "--party", ARTIST, "--from", "2024-03-11", "--to", "2024-03-31",
                          "--format", "csv", "--database", db.url)
    assert code == 0 and "movement" not in out and "opening" in out and ",505" in out

    code, out = await cli(capsys, "balances", "--party", ARTIST, "--database", db.url)
    assert code == 0 and f"{ARTIST}\tearnings\tEUR\t505" in out

    async with db.engine.begin() as conn:
        await conn.execute(t.accounts.update().where(t.accounts.c.party == ARTIST).values(balance=7))
    code, out = await cli(capsys, "check", "--database", db.url)
    assert code == 1 and "balance_mismatches: FAIL" in out and "ledger check: FAILED" in out


def test_dates() -> None:
    assert parse_when("2024-01-01") == 1_704_067_200
    assert parse_when("2024-01-01", end=True) == 1_704_067_200 + 86_400
    assert parse_when("2024-01-01T01:00:00Z") == 1_704_067_200 + 3_600
