"""The pure cores of show analytics: the audience (server.audience) and the engagement
tallies (server.engagement), driven with literal times and events."""

from __future__ import annotations

from server.audience import HLS, WEBRTC, Audience
from server.engagement import Engagement


def test_hls_viewers_count_while_they_fetch_and_their_watch_time_ends_at_the_last_fetch() -> None:
    audience = Audience(hls_idle_s=2.0)
    for t in (100.0, 100.5, 101.0, 101.5):
        audience.hls_seen("room", "a:1", None, t)
    audience.hls_seen("room", "a:1", None, 102.0)
    audience.hls_seen("room", "a:2", None, 101.0)
    assert audience.counts(102.5) == {"room": {WEBRTC: 0, HLS: 2}}
    assert audience.counts(103.5) == {"room": {WEBRTC: 0, HLS: 1}}  # a:2 idle for more than 2 s
    first = {w.key: w.seconds for w in audience.drain(103.5, lambda *_: True)}
    assert first == {"a:1": 2.0, "a:2": 0.0}
    assert len(audience) == 1  # a:2 left and is forgotten; a:1 still active
    audience.hls_seen("room", "a:1", None, 104.0)
    assert [(w.key, w.seconds) for w in audience.drain(110.0, lambda *_: True)] == [("a:1", 2.0)]
    assert len(audience) == 0
    assert audience.drain(111.0, lambda *_: True) == []


def test_whep_viewers_count_from_open_to_end_and_a_vanished_session_ends_at_the_drain() -> None:
    audience = Audience(hls_idle_s=2.0)
    audience.whep_opened("room", "s1", "t:tk1", None, 10.0)
    audience.whep_opened("room", "s2", "staff:7", 7, 11.0)
    assert audience.counts(12.0) == {"room": {WEBRTC: 2, HLS: 0}}
    assert {w.key: w.seconds for w in audience.drain(15.0, lambda *_: True)} == {"t:tk1": 5.0, "staff:7": 4.0}
    audience.whep_ended("s1", 17.5)
    assert audience.counts(18.0) == {"room": {WEBRTC: 1, HLS: 0}}
    alive = {"s2": False}
    drained = {w.key: (w.seconds, w.user_id) for w in audience.drain(20.0, lambda _slug, sid: alive.get(sid, True))}
    assert drained == {"t:tk1": (2.5, None), "staff:7": (5.0, 7)}
    assert len(audience) == 0


def test_the_audience_is_bounded() -> None:
    audience = Audience(hls_idle_s=2.0, max_viewers=2)
    for i in range(5):
        audience.hls_seen("room", f"a:{i}", None, 1.0)
    assert len(audience) == 2
    assert audience.overflow == 3


def _queue(request_id: str, title: str, artist: str) -> list[dict[str, object]]:
    return [{"id": request_id, "song": {"id": 1, "title": title, "artist": artist}, "status": "playing"}]


def test_engagement_counts_chat_songs_and_moderation_per_minute() -> None:
    e = Engagement()
    e.record("room", "chat.message", {"user": {"id": 5, "name": "a"}, "text": "hi"}, 60.0)
    e.record("room", "chat.message", {"user": {"id": 5, "name": "a"}, "text": "again"}, 119.0)
    e.record("room", "chat.message", {"user": {"id": 6, "name": "b"}, "text": "yo"}, 120.0)
    e.record("room", "song.queue", {"change": {"op": "request", "request": {"id": "r1", "title": "Song",
                                                                          "artist": "Band"}}}, 121.0)
    e.record("room", "song.queue", {"change": {"op": "vote", "request_id": "r1", "user_id": 6}}, 122.0)
    e.record("room", "song.queue", {"change": {"op": "play", "request_id": "r1"},
                                    "queue": _queue("r1", "Song", "Band")}, 130.0)
    e.record("room", "song.queue", {"change": {"op": "done", "request_id": "r1"}, "queue": []}, 175.0)
    e.record("room", "mod.notice", {"action": "timeout"}, 125.0)
    e.record("room", "chat.hidden", {"message_ids": ["m1"]}, 126.0)
    e.record("room", "presence", {"viewers": 3}, 126.0)  # not activity
    tallies = e.drain()
    tally = tallies["room"]
    assert tally.minutes == {60.0: [2, 0, 0, 0], 120.0: [1, 1, 1, 2]}
    assert dict(tally.chatters) == {5: 2, 6: 1}
    assert tally.marks == {"r1": (130.0, "Song - Band")}
    assert tally.ends == {"r1": 175.0}
    assert tally.requested == {"r1": (121.0, "Song - Band")}
    assert e.drain() == {}


def test_engagement_ignores_malformed_events() -> None:
    e = Engagement()
    e.record("room", "chat.message", {"user": "nobody"}, 1.0)
    e.record("room", "song.queue", {"change": "nonsense"}, 1.0)
    e.record("room", "song.queue", {}, 1.0)
    tallies = e.drain()
    assert tallies["room"].minutes == {0.0: [1, 0, 0, 0]}
    assert not tallies["room"].chatters



def test_the_chart_adapter_leaves_no_legacy_import_finder_behind() -> None:
    import sys

    import pygal

    import server.show_charts  # noqa: F401 - the adapter

    assert not [f for f in sys.meta_path if isinstance(f, pygal.PluginImportFixer)]


def test_every_chart_renders_svg_with_and_without_data() -> None:
    from server import show_charts

    empty = {"series": {"viewers": [], "chat": [], "marks": [], "revenue": []}}
    full = {"series": {
        "viewers": [{"at": 1_800_000_000.0 + 10 * i, "webrtc": i % 3, "hls": i, "total": i % 3 + i} for i in range(6)],
        "chat": [{"minute": 1_800_000_000.0, "chat": 4, "requests": 1, "votes": 2, "moderation": 0}],
        "marks": [{"at": 1_800_000_015.0, "kind": "song", "label": "Blue Moon - The Band", "end": 1_800_000_025.0},
                  {"at": 1_800_000_035.0, "kind": "song", "label": "Encore - The Band", "end": None}],
        "revenue": [{"minute": 1_800_000_000.0, "source": "tips", "amount": 500},
                    {"minute": 1_800_000_060.0, "source": "tickets", "amount": 1000}],
    }}
    for name in show_charts.CHARTS:
        blank = show_charts.RENDER[name](empty)
        drawn = show_charts.RENDER[name](full)
        assert blank.startswith("<svg") and ">No data yet<" in blank, name
        assert drawn.startswith("<svg") and ">No data yet<" not in drawn, name
    drawn = show_charts.viewers(full)
    assert "Blue Moon - The Band" in drawn and "Blue Moon - The Band (ends)" in drawn and "Setlist" in drawn
    assert "Encore - The Band (ends)" in drawn  # still playing: its mark runs to the last sample


def test_the_report_pairs_each_song_with_its_done_mark() -> None:
    from server.show_report import _setlist

    marks = [{"ref": "p:r1", "kind": "song", "at": 10.0, "label": "A"},
             {"ref": "r:r2", "kind": "request", "at": 12.0, "label": "B"},
             {"ref": "d:r1", "kind": "song_end", "at": 20.0, "label": ""},
             {"ref": "p:r2", "kind": "song", "at": 25.0, "label": "B"}]
    assert _setlist(marks) == [{"at": 10.0, "kind": "song", "label": "A", "end": 20.0},
                               {"at": 25.0, "kind": "song", "label": "B", "end": None}]


def test_a_watching_viewer_is_written_when_it_joins_every_few_periods_and_when_it_leaves() -> None:
    audience = Audience(hls_idle_s=2.0, write_every=3)
    alive = {"s1": True}
    audience.whep_opened("room", "s1", "t:tk1", None, 0.0)
    written = []
    for period in range(1, 8):  # periods end at 10, 20, ... 70
        now = period * 10.0
        if period == 7:
            audience.whep_ended("s1", 65.0)
        written.append([(w.key, w.seconds) for w in audience.drain(now, lambda _slug, sid: alive[sid])])
    # joined (10 s), then every third period (30 s each), then the 5 s after the last write.
    assert written == [[("t:tk1", 10.0)], [], [], [("t:tk1", 30.0)], [], [], [("t:tk1", 25.0)]]
    assert sum(s for period in written for _k, s in period) == 65.0  # exact once it has left
    assert len(audience) == 0


def test_a_flush_writes_every_watching_viewer_up_to_now() -> None:
    audience = Audience(hls_idle_s=2.0, write_every=6)
    audience.hls_seen("room", "a:1", None, 0.0)
    assert [w.seconds for w in audience.drain(1.0, lambda *_: True)] == [0.0]
    audience.hls_seen("room", "a:1", None, 4.0)
    assert audience.drain(5.0, lambda *_: True) == []  # not due
    audience.hls_seen("room", "a:1", None, 8.0)
    assert [w.seconds for w in audience.drain(9.0, lambda *_: True, flush=True)] == [8.0]


def test_a_signed_in_client_is_keyed_by_its_session_and_a_guest_by_address_and_agent() -> None:
    from server.analytics import client_key_of
    from server.auth import token_hash

    assert client_key_of("10.0.0.1", "ua", "x=1; nal_session=tok123; nal_csrf=c") == "s:" + token_hash("tok123")
    guest = client_key_of("10.0.0.1", "ua", "nal_csrf=c")
    assert guest.startswith("a:") and guest == client_key_of("10.0.0.1", "ua", "")
    assert guest != client_key_of("10.0.0.2", "ua", "")
    assert client_key_of("10.0.0.1", "ua", "nal_session=") == guest  # an empty cookie is no session
