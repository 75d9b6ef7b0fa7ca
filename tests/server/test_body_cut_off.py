"""A client that hangs up in the middle of a JSON body: counted, nothing written, no traceback."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp

from tests.support.wait import wait_until


async def _cut_offs(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    found = re.search(r'^nal_bad_input_total\{kind="body_cut_off"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_body_cut_off_midway_is_counted_and_logs_no_error(server_process: Any) -> None:
    srv = server_process()
    async with aiohttp.ClientSession() as http:
        before = await _cut_offs(http, srv.url)
        host, port = srv.url.removeprefix("http://").rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"username": "cutoff", "pass'
        )
        await writer.drain()
        await asyncio.sleep(0.3)  # the server reads the first bytes of the body, then we hang up
        writer.transport.abort()

        await wait_until(lambda: _cut_offs(http, srv.url), lambda n: n == before + 1)
        assert "Traceback" not in srv.log() and "Error handling request" not in srv.log(), srv.log()
        # nothing was accepted: no such account, and the server answers as usual
        async with http.post(f"{srv.url}/api/sessions",
                             json={"username": "cutoff", "password": "whatever it is"}) as resp:
            assert resp.status == 401
