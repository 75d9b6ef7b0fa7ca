"""Fixtures for the page tests: a real server process and the system's headless Chromium.

Playwright drives ``/usr/bin/chromium`` (never a downloaded browser). Every page opened
through ``pages.open`` records console errors, uncaught exceptions and Content-Security-Policy
violations; ``pages.check()`` (called at teardown) fails the test if any happened.
Set ``NAL_SHOTS=/some/dir`` to keep the screenshots the tests take.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.support.servers import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
PASSWORD = "correct horse battery"
TIMEOUT_MS = 15_000
expect.set_options(timeout=10_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=90_000)  # a loaded 2-core box can take long to start it
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}")
    return proc


@pytest.fixture
async def http(srv: ServerProcess) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain API client (bearer tokens, no cookies kept)."""
    async with aiohttp.ClientSession(base_url=srv.url, cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def bearer(http: aiohttp.ClientSession, username: str) -> dict[str, str]:
    """Sign up ``username`` and return its bearer headers."""
    async with http.post("/api/accounts", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 201, await r.text()
    async with http.post("/api/sessions", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        token = (await r.json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def create_room(http: aiohttp.ClientSession, headers: dict[str, str], title: str) -> dict[str, Any]:
    async with http.post("/api/rooms", json={"title": title}, headers=headers) as r:
        assert r.status == 201, await r.text()
        room: dict[str, Any] = await r.json()
        return room


async def add_song(http: aiohttp.ClientSession, headers: dict[str, str], slug: str, title: str,
                   artist: str = "The Band") -> dict[str, Any]:
    async with http.post(f"/api/rooms/{slug}/songs", json={"title": title, "artist": artist}, headers=headers) as r:
        assert r.status == 201, await r.text()
        song: dict[str, Any] = await r.json()
        return song


async def csrf(ctx: BrowserContext) -> str:
    """The CSRF token of a signed-in browser profile (the readable ``nal_csrf`` cookie)."""
    cookies = await ctx.cookies()
    return next(c.get("value", "") for c in cookies if c.get("name") == "nal_csrf")


class Pages:
    """Browser contexts (one per person) whose pages record what went wrong."""

    def __init__(self, browser: Browser, srv: ServerProcess, shots: Path) -> None:
        self.browser = browser
        self.srv = srv
        self.shots = shots
        self.problems: list[str] = []
        self.allowed: list[str] = []
        self.contexts: list[BrowserContext] = []

    async def context(self, username: str | None = None, signup: bool = True) -> BrowserContext:
        """A fresh browser profile; signed in as ``username`` (through the API, so the
        session cookie lands in the profile) unless ``username`` is None (a guest)."""
        ctx = await self.browser.new_context(base_url=self.srv.url, viewport={"width": 1280, "height": 860})
        ctx.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(ctx)
        if username is not None:
            creds = {"username": username, "password": PASSWORD}
            if signup:
                r = await ctx.request.post("/api/accounts", data=creds)
                assert r.status == 201, await r.text()
            r = await ctx.request.post("/api/sessions", data=creds)
            assert r.status == 200, await r.text()
        return ctx

    async def open(self, path: str, username: str | None = None, signup: bool = True,
                   ctx: BrowserContext | None = None) -> Page:
        ctx = ctx or await self.context(username, signup)
        page = await ctx.new_page()
        label = f"{username or 'guest'} {path}"
        page.on("console", lambda msg: self._console(label, msg.type, msg.text))
        page.on("pageerror", lambda exc: self.problems.append(f"{label}: uncaught {exc}"))
        page.on("dialog", lambda dialog: self._dialog(label, dialog.message))
        await page.goto(path)
        return page

    def allow(self, fragment: str) -> None:
        """Console errors and dialogs containing ``fragment`` are expected from now on."""
        self.allowed.append(fragment)

    def _dialog(self, label: str, message: str) -> None:
        if not any(fragment in message for fragment in self.allowed):
            self.problems.append(f"{label}: dialog {message!r}")

    def _console(self, label: str, kind: str, text: str) -> None:
        if any(fragment in text for fragment in self.allowed):
            return
        if "Content Security Policy" in text or kind == "error" and "Failed to load resource" not in text:
            self.problems.append(f"{label}: console {kind}: {text}")

    async def shot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NAL_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def pages(browser: Browser, srv: ServerProcess, shots: Path) -> AsyncIterator[Pages]:
    opened = Pages(browser, srv, shots)
    try:
        yield opened
        opened.check()
    finally:
        await opened.close()


from tests.static.inproc import inproc, ohttp, opages  # noqa: E402, F401 - in-process server fixtures
