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


async def test_vod_player_reads_our_recordings_timeline_and_timestamps(pages: Pages) -> None:
    """The replay's MSE player (js/hls-vod.js) on what our recorder writes: segment starts on the
    playlist's timeline across a discontinuity and a new init, the segment holding a time (a
    boundary belongs to the next), and each track's timescale and first decode time read from
    our fMP4 init and fragment (media/hls/fmp4.py)."""
    from media.hls.fmp4 import Sample, TrackRun, fragment, init_segment
    from media.hls.vod import VodPlaylist, VodSegment
    from media.units import Track
    from tests.media.test_hub_codecs import AVCC_720P_HIGH

    playlist = VodPlaylist()
    for i, (duration, new_map) in enumerate(((4.0, True), (4.0, False), (2.5, True), (4.0, False))):
        playlist = playlist.append(VodSegment(f"seg-{i}.m4s", duration, 1_800_000_000.0 + 4 * i,
                                              discontinuity=i == 2, map_uri=f"init-{i}.mp4" if new_map else None))
    init = init_segment([Track.h264(1, AVCC_720P_HIGH), Track.aac(2, bytes.fromhex("1190"))])  # 48 kHz
    media = fragment(7, [TrackRun(1, 90000 * 30 + 4500, (Sample(3000, 2, True),), b"vv"),
                         TrackRun(2, 48000 * 30, (Sample(1024, 2, True),), b"aa")])
    page = await pages.open("/")
    got = await page.evaluate(
        """async ([text, init, media]) => {
            const mse = await import('/static/js/hls-mse.js');
            const vod = await import('/static/js/hls-vod.js');
            const pl = mse.parsePlaylist(text, location.origin + '/replay/shw/index.m3u8');
            const total = vod.timeline(pl.segments);
            const at = [0, 3.99, 4, 8.2, 10.5, 14.5, 20].map((t) => vod.segmentAt(pl.segments, t));
            const scales = vod.timescales(new Uint8Array(init));
            return {total, at, endList: pl.endList, starts: pl.segments.map((s) => s.start),
                    maps: pl.segments.map((s) => new URL(s.map).pathname), jumps: pl.segments.map((s) => s.discontinuity),
                    scales: [...scales.entries()], first: vod.firstDecodeTime(new Uint8Array(media), scales),
                    empty: vod.segmentAt([], 1)};
        }""",
        [playlist.closed().render(), list(init), list(media)],
    )
    assert got["endList"] and got["total"] == 14.5 and got["starts"] == [0, 4, 8, 10.5]
    assert got["maps"] == ["/replay/shw/init-0.mp4"] * 2 + ["/replay/shw/init-2.mp4"] * 2
    assert got["jumps"] == [False, False, True, False]
    assert got["at"] == [0, 0, 1, 2, 3, 3, 4] and got["empty"] == -1  # 14.5: the end; 20: past it
    assert got["scales"] == [[1, 90000], [2, 48000]]
    assert got["first"] == 30.0  # the earliest track's (audio at 30 s; video at 30.05 s)
