"""``notalabel payouts``: settlement, run by the operator (never over HTTP).

    notalabel payouts run [--dry-run] [serve's flags: --database, --payments, --stripe-*, --payout-hold-s ...]
    notalabel payouts status [same flags]

``run`` requests and sends every payout the ledger allows now (``payments.settlement``) and
prints one line per payout; ``--dry-run`` prints what it would move and moves nothing.
``status`` prints each party's standing (available, in the hold period, why it waits) and
the payouts not yet paid. Safe to run on every node at once and again after a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from payments.ledger import Ledger
from payments.settlement import PayoutRow, RunReport, Settlement, Standing
from server import config, money
from server.db import make_engine, migrate
from server.services import make_settlement


def add_parser(subparsers: Any) -> None:
    payouts = subparsers.add_parser("payouts", help="settlement: pay out available earnings (operator only)")
    sub = payouts.add_subparsers(dest="payouts_command", required=True)
    run = sub.add_parser("run", help="request and send every payout the ledger allows now")
    run.add_argument("--dry-run", action="store_true", help="print what would move; move nothing")
    config.add_arguments(run)
    config.add_arguments(sub.add_parser("status", help="standings and payouts not yet paid"))


def standing_line(s: Standing) -> str:
    why = f"  waits: {s.reason}" if s.reason else ""
    return f"{s.party:<16} {s.currency} earnings {s.earnings:>10} in hold {s.in_hold:>10} available {s.available:>10}{why}"


def payout_line(p: PayoutRow) -> str:
    err = f"  ({p.error})" if p.error else ""
    return f"{p.id} {p.party:<16} {p.amount:>10} {p.currency} {p.state:<10} {p.transfer_id or '-'} {p.transfer_group}{err}"


def print_report(report: RunReport, dry_run: bool) -> None:
    for s in report.standings:
        print(("would pay " if dry_run and s.available and not s.reason else "") + standing_line(s))
    for title, rows in (("requested", report.requested), ("paid", report.sent), ("failed", report.failed),
                        ("pending", report.pending)):
        for p in rows:
            print(f"{title}: {payout_line(p)}")


def _kill_hook(settings: config.Settings) -> Any:
    if settings.payout_kill_after <= 0:
        return None
    sent = [0]

    async def after_transfer(_row: PayoutRow) -> None:
        sent[0] += 1
        if sent[0] >= settings.payout_kill_after:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return after_transfer


async def _main(args: argparse.Namespace) -> int:
    settings = config.load(args)
    engine = make_engine(settings.database_url)
    await migrate(engine, settings.database_url)
    provider = money.make_provider(settings, money.WebhookSender(settings.base_url + money.WEBHOOK_PATH),
                                   money.webhook_secrets(settings))
    try:
        _accounts, settlement = make_settlement(settings, engine, Ledger(engine), money.make_rail(provider))
        return await _command(args, settings, settlement)
    finally:
        await provider.close()
        await engine.dispose()


async def _command(args: argparse.Namespace, settings: config.Settings, settlement: Settlement) -> int:
    if args.payouts_command == "status":
        for s in await settlement.standings():
            print(standing_line(s))
        for p in await settlement.payouts():
            print(payout_line(p))
        return 0
    report = await settlement.run(dry_run=args.dry_run, after_transfer=_kill_hook(settings))
    print_report(report, args.dry_run)
    return 1 if report.pending and not args.dry_run else 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
