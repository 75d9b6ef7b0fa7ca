"""``python -m loadtest.abuse``: see the package docstring."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import loadtest.abuse as package
from loadtest.abuse.run import phase_names, run, to_json


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.abuse", description=package.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phases", type=phase_names, default=phase_names(""),
                   help="comma-separated attacks to run after the idle phase (default: all, in the order above)")
    p.add_argument("--seconds", type=float, default=12.0, help="length of each phase, the idle one too")
    p.add_argument("--settle", type=float, default=3.0, help="quiet seconds between phases")
    p.add_argument("--probe-fans", type=int, default=10, help="signed-in fans timing their own chat")
    p.add_argument("--attacker-fans", type=int, default=10,
                   help="signed-in attacker accounts that chat (blocked_terms uses all, lone_surrogates 4)")
    p.add_argument("--chat-interval", type=float, default=1.7,
                   help="seconds between one probe fan's messages (fans may send 20 per 30 s)")
    p.add_argument("--health-interval", type=float, default=0.1, help="seconds between /healthz polls")
    p.add_argument("--goal-ms", type=float, default=50.0, help="largest p99 rise over idle that meets the goal")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra flag for the server, e.g. --server-arg=--http-header-timeout-s=2 (repeatable)")
    p.add_argument("--nice", type=int, default=0,
                   help="scheduling niceness for the server, the probes and the probe room's publisher (negative needs root;"
                        " the attack processes stay at 0, as if on other machines): on a machine shared with other work,"
                        " -10 keeps the measurement about the attacks")
    p.add_argument("--loop-watch", type=float, default=0.0, metavar="MS",
                   help="run the server under loadtest.loopwatch (the standard asyncio loop) and report, per phase,"
                        " the callbacks that held its event loop MS ms or more, with their CPU time and where")
    p.add_argument("--json", default="", help="also write the report as JSON to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python -m loadtest.abuse " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = run(args, command.strip())
    print(report.text())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(to_json(report), indent=2, default=list) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
