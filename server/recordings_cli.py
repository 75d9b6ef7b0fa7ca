"""``notalabel recordings``: the operator's tools for show recordings.

    notalabel recordings export SHOW_ID --out FILE [serve's flags: --data-dir, --recordings-dir ...]

``export`` remuxes the show's recording on this node into one MP4 (no re-encode,
``media.hls.export``) with a progress bar on stderr, and prints the file's path. A recording
still being written is exported as far as it goes. Exit 1 when there is no such recording
or it cannot be read or written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from media.hls.export import ExportError, remux_to_mp4
from media.hls.recorder import META, PLAYLIST
from server import config
from server.recordings import recordings_root, safe_show_id

BAR_WIDTH = 30


def add_parser(subparsers: Any) -> None:
    recordings = subparsers.add_parser("recordings", help="show recordings: export as MP4")
    sub = recordings.add_subparsers(dest="recordings_command", required=True)
    export = sub.add_parser("export", help="one MP4 of a show's recording (a remux, no re-encode)")
    export.add_argument("show_id", help="the show's id (shw_...)")
    export.add_argument("--out", required=True, help="the MP4 file to write")
    config.add_arguments(export)


def progress_bar(stream: TextIO) -> Any:
    def show(done: float) -> None:
        filled = round(done * BAR_WIDTH)
        stream.write(f"\r[{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {done * 100:5.1f}%")
        if done >= 1.0:
            stream.write("\n")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    settings = config.load(args)
    if not safe_show_id(args.show_id):
        print(f"error: {args.show_id!r} is not a show id", file=sys.stderr)
        return 1
    directory = recordings_root(settings.recordings_dir, settings.data_dir) / args.show_id
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        print(f"error: no recording of {args.show_id} in {directory.parent}", file=sys.stderr)
        return 1
    out = Path(args.out)
    try:
        packets = remux_to_mp4(directory / PLAYLIST, out, float(meta.get("duration") or 0), progress_bar(sys.stderr))
    except (ExportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({packets} packets, {meta.get('duration')} s, state {meta.get('state')})")
    return 0
