"""Headless Chromium (native HLS) plays the LL-HLS stream while it is being published."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from playwright.async_api import async_playwright

from media.units import CLOCK_RATE
from tests.media.hls.conftest import HlsServer
from tests.media.hls.sources import Source

PAGE = '<video id=v muted autoplay playsinline src="/live/room/index.m3u8"></video>'
STATE = "(() => { const v = document.getElementById('v');"
STATE += " return [v.currentTime, v.videoWidth, v.error && v.error.message]; })()"


async def test_chromium_plays_while_publishing(
    hls_server: HlsServer, make_source: Callable[..., Source]
) -> None:
    source = make_source("720p30-12s", seconds=12)
    stream = hls_server.hub.start_publish("room", "test", source.tracks)

    async def pace() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for unit in source.units:
            delay = unit.dts / CLOCK_RATE - (loop.time() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            stream.write(unit)

    feeder = asyncio.create_task(pace())
    try:
        await asyncio.sleep(1.5)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--autoplay-policy=no-user-gesture-required"],
            )
            try:
                page = await browser.new_page()
                await page.route(
                    "**/watch", lambda route: route.fulfill(body=PAGE, content_type="text/html")
                )
                await page.goto(f"{hls_server.base}/watch")
                samples = []
                for _ in range(7):
                    await asyncio.sleep(1)
                    samples.append(await page.evaluate(STATE))
            finally:
                await browser.close()
    finally:
        feeder.cancel()
    times = [s[0] for s in samples]
    assert all(s[2] is None for s in samples), samples
    assert samples[-1][1] == 1280
    assert all(b > a for a, b in zip(times[1:], times[2:], strict=False)), times  # no stall
    assert times[-1] - times[1] >= 4
