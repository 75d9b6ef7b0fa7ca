"""Text that reaches other users over HTTP: only Unicode scalar values get in (issue 16)."""

from __future__ import annotations

from typing import Any

from tests.support.api import make_room, signup_login


async def _bad_unicode_count(api: Any) -> float:
    text = await (await api.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith('nal_bad_input_total{kind="bad_unicode"}'):
            return float(line.split()[-1])
    return 0.0


async def test_lone_surrogates_in_json_bodies_are_refused_and_counted(api: Any) -> None:
    headers = await signup_login(api, "alice")
    before = await _bad_unicode_count(api)
    json_headers = {**headers, "Content-Type": "application/json"}
    for body in (b'{"title": "Show \\ud800"}', b'{"title": "Show \xed\xa0\x80"}'):
        r = await api.post("/api/rooms", data=body, headers=json_headers)
        assert r.status == 400, await r.text()
        assert (await r.json())["error"] == "bad_unicode"
    assert await _bad_unicode_count(api) == before + 2
    # A proper pair (an emoji) is fine, and nothing accepted before was lost.
    room = await make_room(api, headers, "Show \U0001f3b8")
    assert room["title"] == "Show \U0001f3b8"


async def test_room_titles_and_songs_lose_bidi_controls_and_zero_width_characters(api: Any) -> None:
    owner = await signup_login(api, "olga")
    room = await make_room(api, owner, "\u202eFriday\u202c \u200bShow")
    assert room["title"] == "Friday Show"
    listed = (await (await api.get("/api/rooms")).json())["rooms"]
    assert [r["title"] for r in listed] == ["Friday Show"]
    r = await api.post("/api/rooms", json={"title": "\u200b\u2066\u2069"}, headers=owner)
    assert r.status == 400 and (await r.json())["error"] == "bad_field"
    song = {"title": "Blue\u202e Hour", "artist": "\ufeffThe Band", "writers": []}
    r = await api.post(f"/api/rooms/{room['slug']}/songs", json=song, headers=owner)
    assert r.status == 201, await r.text()
    songs = (await (await api.get(f"/api/rooms/{room['slug']}/songs")).json())["songs"]
    assert [(s["title"], s["artist"]) for s in songs] == [("Blue Hour", "The Band")]
