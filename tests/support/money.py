"""In-process servers on real loopback ports for the money tests (the sandbox's webhooks
travel over HTTP to the server's own ``/webhooks/stripe``), and small API helpers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from payments import reports
from payments.signing import sign
from server.app import make_app
from server.config import Settings
from server.keys import SERVICES
from server.services import Services
from tests.support.servers import free_port


@dataclass
class Running:
    url: str
    app: web.Application
    http: aiohttp.ClientSession

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    async def signup(self, username: str) -> tuple[dict[str, str], str]:
        body = {"username": username, "password": "correct horse battery"}
        r = await self.http.post("/api/accounts", json=body)
        assert r.status == 201, await r.text()
        r = await self.http.post("/api/sessions", json=body)
        token = (await r.json())["token"]
        return {"Authorization": f"Bearer {token}"}, token

    async def room(self, headers: dict[str, str], title: str = "Friday Show") -> str:
        r = await self.http.post("/api/rooms", json={"title": title}, headers=headers)
        assert r.status == 201, await r.text()
        slug: str = (await r.json())["slug"]
        return slug

    async def tip(self, slug: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        r = await self.http.post(f"/api/rooms/{slug}/tips", json=body, headers=headers)
        assert r.status == 201, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer

    async def sandbox(self, checkout_url: str, step: str, **body: Any) -> aiohttp.ClientResponse:
        path = checkout_url.split("://", 1)[1].split("/", 1)[1]
        return await self.http.post(f"/{path}/{step}", json=body or None)

    async def webhook(self, event: dict[str, Any], secret: str | None = None, at: float | None = None,
                      signature: str | None = None) -> aiohttp.ClientResponse:
        body = json.dumps(event).encode()
        secret = secret or self.services.webhook_secrets[0]
        header = signature if signature is not None else sign(secret, int(at if at is not None else time.time()), body)
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Stripe-Signature"] = header
        return await self.http.post("/webhooks/stripe", data=body, headers=headers)

    async def ledger_ok(self) -> None:
        report = await reports.check(self.services.engine)
        assert report.ok, report

    async def balances(self, party: str) -> dict[str, int]:
        return {b.kind: b.balance for b in await reports.balances(self.services.engine, party)}


@asynccontextmanager
async def running(tmp_path: Path, database_url: str, **settings: Any) -> AsyncIterator[Running]:
    port = free_port()
    app = await make_app(Settings(data_dir=str(tmp_path), database=database_url, http=f"127.0.0.1:{port}",
                                  **settings))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.DummyCookieJar()) as http:
            yield Running(url, app, http)
    finally:
        await runner.cleanup()
