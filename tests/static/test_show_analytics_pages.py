"""Show analytics in headless Chromium: the studio's live dashboard while ffmpeg publishes and
a fan watches, and the post-show page /studio/{slug}/shows/{id}, with its server-rendered
charts, for a show that happened and for one that never started (renders, no errors); the
owner downloads the show's settlement sheet and setlist from it, a host sees neither link.
Screenshots go to the test's shots folder (NAL_SHOTS keeps them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.server.test_live import ffmpeg_publish
from tests.static.conftest import Pages, csrf
from tests.support.servers import ServerProcess

SLOW = 60_000
FETCH = """async (href) => {
  const r = await fetch(href);
  return {status: r.status, type: r.headers.get('content-type') || '',
          disposition: r.headers.get('content-disposition') || '', body: await r.text()};
}"""
LOADED = "(id) => { const img = document.getElementById(id); return img.complete && img.naturalWidth > 0; }"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def srv(server_process: Any, tmp_path: Path) -> ServerProcess:
    proc: ServerProcess = server_process(database=f"sqlite:///{tmp_path / 'pages.sqlite3'}", analytics_sample_s=1)
    return proc


async def charts_loaded(page: Page, *ids: str) -> None:
    for chart in ids:
        await page.wait_for_function(LOADED, arg=chart, timeout=SLOW)


async def test_the_live_dashboard_and_the_post_show_page(pages: Pages, srv: ServerProcess) -> None:
    ctx = await pages.context("ana")
    token = {"X-CSRF-Token": await csrf(ctx)}
    r = await ctx.request.post("/api/rooms", data={"title": "Analytics Night"}, headers=token)
    assert r.status == 201, await r.text()
    room = await r.json()
    slug = room["slug"]
    r = await ctx.request.post(f"/api/rooms/{slug}/shows", headers=token,
                               data={"title": "Tonight", "starts_at": iso(time.time() - 60)})
    tonight = (await r.json())["id"]
    r = await ctx.request.post(f"/api/rooms/{slug}/shows", headers=token,
                               data={"title": "Next month", "starts_at": iso(time.time() + 30 * 86_400)})
    later = (await r.json())["id"]

    # A show that never started: the page renders its empty figures and charts.
    empty = await pages.open(f"/studio/{slug}/shows/{later}", ctx=ctx)
    await expect(empty.locator("#show-title")).to_have_text("Next month")
    await expect(empty.locator("#summary")).to_contain_text("Unique viewers")
    await expect(empty.locator("#revenue")).to_contain_text("None yet")
    await charts_loaded(empty, "chart-viewers", "chart-chat", "chart-revenue")
    await pages.shot(empty, "show-page-never-started")

    # The owner's money reports, downloadable from the show's page in the owner's browser profile.
    for name, path in (("settlement", f"/api/shows/{later}/settlement?format=csv"),
                       ("setlist", f"/api/shows/{later}/setlist.csv")):
        link = empty.locator(f"#download-{name}")
        await expect(link).to_have_text(f"{name}.csv")
        await expect(link).to_have_attribute("href", path)
        got = await empty.evaluate(FETCH, await link.get_attribute("href"))
        assert got["status"] == 200 and got["type"].startswith("text/csv"), got
        assert f'filename="{name}-{later}.csv"' in got["disposition"], got
        assert got["body"].splitlines()[0].count(",") >= 2, got  # a CSV header line

    # A host sees the show's page and its other downloads, but neither money report.
    host = await pages.context("hal")
    r = await ctx.request.post(f"/api/rooms/{slug}/hosts", data={"username": "hal"}, headers=token)
    assert r.status in (200, 201), await r.text()
    hosted = await pages.open(f"/studio/{slug}/shows/{later}", ctx=host)
    await expect(hosted.locator("#show-title")).to_have_text("Next month")
    await expect(hosted.locator("#downloads li")).to_have_count(4)
    await expect(hosted.locator("#download-settlement, #download-setlist")).to_have_count(0)
    r = await host.request.get(f"/api/shows/{later}/settlement?format=csv")
    assert r.status == 403, await r.text()

    publisher = ffmpeg_publish(f"{srv.rtmp_url}/{room['stream_key']}", seconds=240)
    try:
        studio = await pages.open(f"/studio/{slug}", ctx=ctx)
        await expect(studio.locator("#show-dashboard")).to_be_visible(timeout=SLOW)
        await expect(studio.locator("#dash-title")).to_have_text("Tonight")
        fan = await pages.open(f"/watch/{slug}", "fern")
        await expect(fan.locator("#live-badge")).to_have_text("LIVE", timeout=SLOW)
        # Two LL-HLS viewers: the fan and the studio's own preview of the stream (the watch
        # page's player), each counted as its signed-in user. (Both browsers are Chromium on
        # 127.0.0.1, so as anonymous clients they would be one.)
        await expect(studio.locator("#dash-viewers")).to_have_text("2", timeout=SLOW)
        await expect(studio.locator("#dash-classes")).to_have_text("0 WebRTC · 2 LL-HLS")
        await fan.locator("#chat-input").fill("what a night")
        await fan.locator("#chat-input").press("Enter")
        await expect(studio.locator("#dash-facts")).to_contain_text("Chat1 (", timeout=SLOW)
        await charts_loaded(studio, "dash-chart")
        await pages.shot(studio, "studio-live-dashboard")
        await expect(studio.locator("#show-list li")).to_have_count(2)

        after = await pages.open(f"/studio/{slug}/shows/{tonight}", ctx=ctx)
        await expect(after.locator("#summary")).to_contain_text("Unique viewers2")
        await expect(after.locator("#summary")).to_contain_text("People who chatted1")
        await expect(after.locator("#downloads li")).to_have_count(7)
        await charts_loaded(after, "chart-viewers", "chart-chat", "chart-revenue")
        await pages.shot(after, "show-page")
    finally:
        publisher.kill()
        publisher.wait(10)
