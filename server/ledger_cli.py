"""``notalabel ledger``: check the ledger's invariants and print statements.

    notalabel ledger check [--database URL]
    notalabel ledger statement --party P --from DATE --to DATE [--format json|csv] [--database URL]
    notalabel ledger balances [--party P] [--database URL]
    notalabel ledger setlist --show S [--database URL]

``check`` prints one line per invariant with the offending ids and exits 1 if any fails.
Dates are ``YYYY-MM-DD`` (UTC; ``--to`` includes that whole day) or ISO 8601 date-times.
Also runnable as ``python -m server.ledger_cli ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from payments import reports
from server.db import make_engine, migrate

DEFAULT_DATABASE = "sqlite:///./var/notalabel.sqlite3"


def default_database() -> str:
    return os.environ.get("NOTALABEL_DATABASE") or DEFAULT_DATABASE


def parse_when(text: str, end: bool = False) -> float:
    """Epoch seconds of an ISO date or date-time; a bare end date means the end of that day."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1) if end else day).timestamp()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def add_parser(subparsers: Any) -> None:
    ledger = subparsers.add_parser("ledger", help="royalty ledger: check invariants, statements")
    sub = ledger.add_subparsers(dest="ledger_command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--database", default=None, help=f"database URL (default: $NOTALABEL_DATABASE or {DEFAULT_DATABASE})")
        return p

    with_db(sub.add_parser("check", help="verify every invariant; exit 1 with offending ids"))
    st = with_db(sub.add_parser("statement", help="a party's statement for a period"))
    st.add_argument("--party", required=True, help="e.g. user:42")
    st.add_argument("--from", dest="start", required=True)
    st.add_argument("--to", dest="end", required=True)
    st.add_argument("--format", choices=("json", "csv"), default="json")
    bal = with_db(sub.add_parser("balances", help="running balances, per party and account"))
    bal.add_argument("--party", default=None)
    sl = with_db(sub.add_parser("setlist", help="performance-rights setlist of a show (CSV)"))
    sl.add_argument("--show", required=True)


async def _run(args: argparse.Namespace) -> int:
    url = args.database or default_database()
    engine = make_engine(url, pool_size=2)
    try:
        await migrate(engine, url)
        command = args.ledger_command
        if command == "check":
            report = await reports.check(engine)
            print("\n".join(report.lines()))
            print("ledger check: " + ("ok" if report.ok else "FAILED"))
            return 0 if report.ok else 1
        if command == "statement":
            statement = await reports.statement(
                engine, args.party, parse_when(args.start), parse_when(args.end, end=True)
            )
            sys.stdout.write(statement.to_json() + "\n" if args.format == "json" else statement.to_csv())
            return 0
        if command == "balances":
            for b in await reports.balances(engine, args.party):
                print(f"{b.party}\t{b.kind}\t{b.currency}\t{b.balance}")
            return 0
        sys.stdout.write(await reports.setlist_csv(engine, args.show))
        return 0
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    """Entry point for ``notalabel ledger ...`` (server.cli dispatches here)."""
    try:
        return asyncio.run(_run(args))
    except argparse.ArgumentTypeError as exc:
        print(f"notalabel ledger: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notalabel")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["ledger", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
