"""The README's "First steps" shell block, run literally with bash against a started server
(only ``localhost:8080`` becomes the test server's address): it must create the account,
sign in and create the room (issue 15 item 1)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def first_steps_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## First steps", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "no ```sh block under First steps"
    return found.group(1)


def json_values(text: str) -> list[Any]:
    """The JSON documents curl printed one after another (no newline between them)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


async def test_the_readme_first_steps_work_as_written(server_process: Any, tmp_path: Path) -> None:
    srv = server_process(database=f"sqlite:///{tmp_path / 'readme.sqlite3'}")
    script = first_steps_block()
    assert "localhost:8080" in script
    script = script.replace("localhost:8080", urlsplit(srv.url).netloc)
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    account, room = json_values(out.decode())
    assert "error" not in account and account.get("username"), account
    assert room.get("title") == "Friday Show" and room.get("slug") and room.get("stream_key"), room
