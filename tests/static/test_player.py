"""The watch page's player: the offline state, and our MSE player's reading of the playlists
our own LL-HLS packager writes (media/hls/playlist.py), in headless Chromium."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from media.hls.playlist import MediaPlaylist, PartEntry, SegmentEntry
from tests.static.conftest import Pages, bearer, create_room

IMPORT = "import('/static/js/hls-mse.js')"


async def test_offline_room_shows_the_offline_state(pages: Pages, http: aiohttp.ClientSession) -> None:
    room = await create_room(http, await bearer(http, "maya"), "Not Live Yet")
    page = await pages.open(f"/watch/{room['slug']}")
    await expect(page.locator("#player-overlay")).to_contain_text("offline")
    await expect(page.locator("#live-badge")).to_have_text("OFFLINE")
    await expect(page.locator("#video")).to_have_attribute("data-state", "offline")
    # Chromium 156 plays HLS natively, so the page picks the native path there.
    assert await page.evaluate("document.getElementById('video').canPlayType('application/vnd.apple.mpegurl')") != ""
    await pages.shot(page, "watch-offline")


def _playlist(*, discontinuity_at: int | None = None) -> str:
    segments = []
    for msn in range(7, 10):
        parts = tuple(PartEntry(f"seg{msn}.{i}.m4s", 0.2, i == 0) for i in range(5))
        segments.append(SegmentEntry(msn, f"seg{msn}.m4s", 1.0, parts, map_uri="init.mp4" if msn == 7 else None,
                                     discontinuity=msn == discontinuity_at, program_date_time=1_700_000_000.0 + msn))
    segments.append(SegmentEntry(10, "seg10.m4s", 0.0, (PartEntry("seg10.0.m4s", 0.2, True),
                                 PartEntry("seg10.1.m4s", 0.2, False)), complete=False))
    return MediaPlaylist(target_duration=1, part_target=0.2, media_sequence=7, discontinuity_sequence=0,
                         segments=tuple(segments), preload_hint="seg10.2.m4s").render()


async def _steps(page: Page, text: str, start: dict[str, int], count: int) -> Any:
    return await page.evaluate(
        """async ([text, start, count]) => {
            const mod = await import('/static/js/hls-mse.js');
            const pl = mod.parsePlaylist(text, location.origin + '/live/room/index.m3u8');
            const player = Object.create(mod.MseHlsPlayer.prototype);
            player.appended = true;
            player.next = start;
            const steps = [];
            for (let i = 0; i < count; i++) {
                const step = player.nextStep(pl);
                steps.push(step === null || step === 'restart' ? step : new URL(step.uri).pathname);
                if (!step || step === 'restart') break;
            }
            return {pl, steps, next: player.next};
        }""",
        [text, start, count],
    )


async def test_mse_player_reads_our_ll_hls_playlists(pages: Pages) -> None:
    page = await pages.open("/")
    result = await _steps(page, _playlist(), {"msn": 9, "part": 0}, 10)
    pl = result["pl"]
    assert pl["canBlock"] is True
    assert pl["mediaSequence"] == 7 and pl["partTarget"] == 0.2 and pl["targetDuration"] == 1
    assert [s["msn"] for s in pl["segments"]] == [7, 8, 9]
    assert pl["segments"][0]["map"].endswith("/live/room/init.mp4")
    assert pl["segments"][2]["parts"][0]["independent"] is True
    assert pl["nextMsn"] == 10 and len(pl["parts"]) == 2
    # Start at the newest complete segment, then follow the parts of the one being written.
    assert result["steps"] == ["/live/room/seg9.m4s", "/live/room/seg10.0.m4s", "/live/room/seg10.1.m4s", None]
    assert result["next"] == {"msn": 10, "part": 2}

    # Mid-segment: the rest of its parts; after falling out of the window: the live edge.
    mid = await _steps(page, _playlist(), {"msn": 8, "part": 3}, 3)
    assert mid["steps"] == ["/live/room/seg8.3.m4s", "/live/room/seg8.4.m4s", "/live/room/seg9.m4s"]
    behind = await _steps(page, _playlist(), {"msn": 2, "part": 0}, 1)
    assert behind["steps"] == ["/live/room/seg9.m4s"]

    # A discontinuity (the publisher reconnected) restarts the player.
    restart = await _steps(page, _playlist(discontinuity_at=9), {"msn": 8, "part": 0}, 3)
    assert restart["steps"] == ["/live/room/seg8.m4s", "restart"]


async def test_mse_player_reads_a_multivariant_playlist(pages: Pages) -> None:
    page = await pages.open("/")
    text = ('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2500000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720\n'
            "video/index.m3u8\n")
    pl = await page.evaluate(f"{IMPORT}.then(m => m.parsePlaylist({text!r}, location.origin + '/live/r/index.m3u8'))")
    assert pl["variants"][0]["CODECS"] == "avc1.640028,mp4a.40.2"
    assert pl["variants"][0]["uri"].endswith("/live/r/video/index.m3u8")
    assert pl["segments"] == []
