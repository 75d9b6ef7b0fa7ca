"""Headless Chromium (native HLS) plays the LL-HLS stream while it is being published."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from playwright.async_api import async_playwright

from media.units import CLOCK_RATE
from tests.media.hls.conftest import HlsServer
from tests.media.hls.sources import Source

PAGE = '<video id=v muted autoplay playsinline src="/live/room/index.m3u8"></video>'
STATE = "(() => { const v = document.getElementById('v');"
STATE += " return [v.currentTime, v.videoWidth, v.error && v.error.message]; })()"
MAX_STALL_S = 1.5
"""The longest the picture may freeze: a viewer notices a freeze of a second or two."""
MIN_PACE = 0.5
"""Playback covers at least this share of the time watched (it plays live at about 1x; a
loaded 2-core machine gives the browser sub-second hitches, which are not what we test)."""


async def test_chromium_plays_while_publishing(
    hls_server: HlsServer, make_source: Callable[..., Source]
) -> None:
    source = make_source("720p30-20s", seconds=20)  # outlasts a slow browser start
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
                timeout=90_000,  # a loaded 2-core box can take long to start it
            )
            try:
                page = await browser.new_page()
                await page.route(
                    "**/watch", lambda route: route.fulfill(body=PAGE, content_type="text/html")
                )
                await page.goto(f"{hls_server.base}/watch")
                deadline = time.monotonic() + 20  # the first picture; bounds only a broken run
                while (await page.evaluate(STATE))[0] <= 0:
                    assert time.monotonic() < deadline, "nothing played"
                    await asyncio.sleep(0.1)
                samples: list[tuple[float, list[object]]] = []
                while not samples or samples[-1][0] - samples[0][0] < 6:
                    samples.append((time.monotonic(), await page.evaluate(STATE)))
                    await asyncio.sleep(0.25)
            finally:
                await browser.close()
    finally:
        feeder.cancel()
    states = [state for _, state in samples]
    assert all(state[2] is None for state in states), states
    assert states[-1][1] == 1280
    played = [(at, float(state[0])) for at, state in samples]  # type: ignore[arg-type]
    stall, moved_at = 0.0, played[0][0]
    for (_, before), (at, now) in itertools.pairwise(played):
        if now > before:
            moved_at = at
        stall = max(stall, at - moved_at)
    watched, advanced = played[-1][0] - played[0][0], played[-1][1] - played[0][1]
    shown = [(round(at - played[0][0], 2), round(t, 2)) for at, t in played]
    assert stall < MAX_STALL_S, f"the picture froze for {stall:.2f}s: {shown}"
    assert advanced >= MIN_PACE * watched, f"played {advanced:.2f}s in {watched:.2f}s: {shown}"
