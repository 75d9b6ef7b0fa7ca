"""Recording a show (issue 13) through ``notalabel serve`` with real peers: ffmpeg publishes over
RTMP as OBS does (60 s, reconnecting in the middle), the owner plays two songs from a room
socket, ffprobe reads the VOD over HTTP; a recordings directory that refuses writes leaves
the live show playing and says why.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.test_live import ffmpeg_publish
from tests.support.disk import unwritable
from tests.support.roomsocket import RoomSocket
from tests.support.wait import wait_until

PASSWORD = "correct horse battery"
SEGMENT = 4.0  # the recorder's segment target; a 1 s GOP cuts exactly there
HALF = 30


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def account(http: aiohttp.ClientSession, base: str) -> tuple[str, dict[str, str]]:
    name = "u" + uuid.uuid4().hex[:10]
    r = await http.post(f"{base}/api/accounts", json={"username": name, "password": PASSWORD})
    assert r.status == 201, await r.text()
    r = await http.post(f"{base}/api/sessions", json={"username": name, "password": PASSWORD})
    token = (await r.json())["token"]
    http.cookie_jar.clear()
    return token, {"Authorization": f"Bearer {token}"}


def iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).isoformat()


async def show_with_replay(http: aiohttp.ClientSession, base: str, owner: dict[str, str]) -> tuple[str, str, str]:
    """(room slug, stream key, show id) of a room whose show has a tier that includes replay."""
    r = await http.post(f"{base}/api/rooms", json={"title": "Recorded"}, headers=owner)
    room = await r.json()
    now = datetime.datetime.now(datetime.UTC).timestamp()
    r = await http.post(f"{base}/api/rooms/{room['slug']}/shows", headers=owner,
                        json={"title": "Night one", "starts_at": iso(now - 60), "replay_hours": 48})
    assert r.status == 201, await r.text()
    show = await r.json()
    r = await http.post(f"{base}/api/shows/{show['id']}/tiers", headers=owner,
                        json={"name": "Live + replay", "price": 500, "replay": True})
    assert r.status == 201, await r.text()
    return room["slug"], room["stream_key"], show["id"]


async def stream_state(http: aiohttp.ClientSession, base: str, slug: str) -> str:
    r = await http.get(f"{base}/api/rooms/{slug}/stream")
    return str((await r.json())["state"])


async def recording(http: aiohttp.ClientSession, base: str, slug: str, owner: dict[str, str]) -> dict[str, Any]:
    r = await http.get(f"{base}/api/rooms/{slug}/recording", headers=owner)
    assert r.status == 200, await r.text()
    body: dict[str, Any] = (await r.json())["recording"] or {}
    return body


async def play_song(sock: RoomSocket, http: aiohttp.ClientSession, base: str, slug: str,
                    owner: dict[str, str], title: str, seconds: float) -> None:
    """The owner requests ``title``, plays it for ``seconds`` of stream, marks it done."""
    r = await http.post(f"{base}/api/rooms/{slug}/songs", json={"title": title, "artist": "Olga"}, headers=owner)
    assert r.status == 201, await r.text()
    reply = await sock.op("song.request", song_id=(await r.json())["id"])
    assert reply["type"] == "ack", reply
    await sock.wait_for(lambda: any(q["song"]["title"] == title for e in sock.of_type("song.queue")
                                    for q in e["data"]["queue"]))
    queue = sock.of_type("song.queue")[-1]["data"]["queue"]
    request_id = next(q["id"] for q in queue if q["song"]["title"] == title)
    assert (await sock.op("song.play", request_id=request_id))["type"] == "ack"
    await asyncio.sleep(seconds)  # the song lasts this long: what is measured is the chapter
    assert (await sock.op("song.done", request_id=request_id))["type"] == "ack"


async def ffprobe(url: str, owner_token: str) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-headers", f"Authorization: Bearer {owner_token}\r\n",
            "-show_streams", "-show_format", "-of", "json", url]
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_a_60_s_show_with_a_reconnect_and_two_songs_becomes_a_vod(
    server_process: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    srv = server_process(reconnect_grace_s=30)
    token, owner = await account(http, srv.url)
    slug, key, show_id = await show_with_replay(http, srv.url, owner)
    sock = await RoomSocket.connect(http, srv.ws_url, slug, token)
    procs = [ffmpeg_publish(f"{srv.rtmp_url}/{key}", HALF)]
    try:
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        await wait_until(lambda: recording(http, srv.url, slug, owner), lambda r: r.get("segments", 0) >= 1, 60)
        await play_song(sock, http, srv.url, slug, owner, "First light", 8)
        assert await asyncio.to_thread(procs[0].wait, 120) == 0  # 30 s sent: the publisher goes away
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "reconnecting", 60)
        procs.append(ffmpeg_publish(f"{srv.rtmp_url}/{key}", HALF))  # OBS reconnects
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        await play_song(sock, http, srv.url, slug, owner, "Second wind", 8)
        assert await asyncio.to_thread(procs[1].wait, 120) == 0
        r = await http.post(f"{srv.url}/api/rooms/{slug}/stream/end", headers=owner)
        assert r.status == 200
        status = await wait_until(lambda: recording(http, srv.url, slug, owner),
                                  lambda r: r.get("state") == "ended", 60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        await sock.close()
    assert status["gaps"] == 0 and status["error"] is None and status["show_id"] == show_id

    r = await http.get(f"{srv.url}/replay/{show_id}/index.m3u8", headers=owner)
    assert r.status == 200, await r.text()
    text = await r.text()
    assert text.endswith("#EXT-X-ENDLIST\n") and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == text.count("#EXTINF:")
    listed = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text))
    assert abs(listed - 2 * HALF) <= SEGMENT, listed

    probed = await ffprobe(f"{srv.url}/replay/{show_id}/index.m3u8", token)
    codecs = sorted(s["codec_name"] for s in probed["streams"])
    assert codecs == ["aac", "h264"]
    assert abs(float(probed["format"]["duration"]) - 2 * HALF) <= SEGMENT, probed["format"]

    segment = re.findall(r"^(seg-\d+\.m4s)$", text, re.M)[1]
    r = await http.get(f"{srv.url}/replay/{show_id}/{segment}", headers={**owner, "Range": "bytes=0-99"})
    assert r.status == 206 and len(await r.read()) == 100
    assert r.headers["Content-Range"].startswith("bytes 0-99/")

    r = await http.get(f"{srv.url}/api/shows/{show_id}/recording", headers=owner)
    assert r.status == 200, await r.text()
    body = await r.json()
    chapters = body["chapters"]
    assert [c["title"] for c in chapters] == ["First light", "Second wind"]
    assert 0 <= chapters[0]["start"] < chapters[0]["end"] <= chapters[1]["start"] < chapters[1]["end"] <= listed
    assert chapters[1]["start"] >= HALF - SEGMENT  # played after the reconnect
    for chapter in chapters:
        assert chapter["end"] - chapter["start"] >= 8 - 1, chapter  # each song lasted 8 s of the stream

    r = await http.get(f"{srv.url}/replay/{show_id}/index.m3u8")
    assert r.status == 403 and (await r.json())["error"] == "replay_needed"

    await clip_is_public(http, srv, show_id, owner, token, text)
    await exports_play_end_to_end(http, srv, show_id, owner, tmp_path)


async def clip_is_public(http: aiohttp.ClientSession, srv: Any, show_id: str, owner: dict[str, str],
                         token: str, vod: str) -> None:
    r = await http.post(f"{srv.url}/api/shows/{show_id}/clips", json={"start": 10, "end": 20})
    assert r.status == 401
    r = await http.post(f"{srv.url}/api/shows/{show_id}/clips", json={"start": 20, "end": 10}, headers=owner)
    assert r.status == 400
    r = await http.post(f"{srv.url}/api/shows/{show_id}/clips", json={"start": 10, "end": 20}, headers=owner)
    assert r.status == 201, await r.text()
    clip = await r.json()
    assert clip["start"] <= 10 and 10 <= clip["duration"] <= 10 + 2 * SEGMENT
    async with aiohttp.ClientSession() as guest:  # the link is public: no session, no token
        async with guest.get(f"{srv.url}{clip['url']}") as r:
            assert r.status == 200
            text = await r.text()
        assert text.endswith("#EXT-X-ENDLIST\n") and "#EXT-X-MAP:" in text
        outside = next(name for name in re.findall(r"^(seg-\d+\.m4s)$", vod, re.M) if name not in text)
        async with guest.get(f"{srv.url}{clip['url'].rsplit('/', 1)[0]}/{outside}") as r:
            assert r.status == 404
    probed = await ffprobe(f"{srv.url}{clip['url']}", "none")
    assert sorted(s["codec_name"] for s in probed["streams"]) == ["aac", "h264"]
    assert abs(float(probed["format"]["duration"]) - clip["duration"]) < 1


def assert_plays_end_to_end(path: Path) -> None:
    """ffprobe reads every packet of the MP4: H.264 + AAC, ~60 s, timestamps strictly rising."""
    args = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_packets", "-of", "json", str(path)]
    done = subprocess.run(args, capture_output=True, timeout=180, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    probed = json.loads(done.stdout)
    assert sorted(s["codec_name"] for s in probed["streams"]) == ["aac", "h264"]
    assert probed["format"]["format_name"].startswith("mov,mp4")
    assert abs(float(probed["format"]["duration"]) - 2 * HALF) <= SEGMENT, probed["format"]
    for stream in probed["streams"]:
        dts = [int(p["dts"]) for p in probed["packets"] if p["stream_index"] == stream["index"]]
        assert len(dts) > 100 and all(b > a for a, b in zip(dts, dts[1:], strict=False))


async def exports_play_end_to_end(http: aiohttp.ClientSession, srv: Any, show_id: str,
                                  owner: dict[str, str], tmp_path: Path) -> None:
    r = await http.get(f"{srv.url}/api/shows/{show_id}/recording.mp4")
    assert r.status == 401
    seen: list[float] = []

    async def mp4() -> tuple[int, bytes]:
        async with http.get(f"{srv.url}/api/shows/{show_id}/recording.mp4", headers=owner) as r:
            if r.status == 202:
                seen.append((await r.json())["progress"])
                return r.status, b""
            return r.status, await r.read()

    status, data = await wait_until(mp4, lambda answer: answer[0] != 202, 180)
    assert status == 200 and all(0 <= p <= 1 for p in seen)
    (tmp_path / "api.mp4").write_bytes(data)
    assert_plays_end_to_end(tmp_path / "api.mp4")

    out = tmp_path / "cli.mp4"
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "server.cli", "recordings", "export", show_id, "--out", str(out),
        "--data-dir", str(srv.data_dir)], capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert "] 100.0%" in done.stderr.decode() and str(out) in done.stdout.decode()
    assert_plays_end_to_end(out)


async def test_a_recordings_dir_that_refuses_writes_leaves_the_show_live(
    server_process: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    refused = tmp_path / "refused"
    undo = unwritable(refused)
    proc: subprocess.Popen[bytes] | None = None
    try:
        srv = server_process(recordings_dir=str(refused))
        token, owner = await account(http, srv.url)
        slug, key, show_id = await show_with_replay(http, srv.url, owner)
        proc = ffmpeg_publish(f"{srv.rtmp_url}/{key}", 120)
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        status = await wait_until(lambda: recording(http, srv.url, slug, owner),
                                  lambda r: r.get("state") == "failed", 60)
        assert "Operation not permitted" in status["error"] or "Permission denied" in status["error"]
        metrics = await (await http.get(f"{srv.url}/metrics")).text()
        assert re.search(r'^nal_recordings_failed_total\{reason="permission"\} 1\.0$', metrics, re.M), metrics
        assert "recording of " + slug + " stopped, the live show goes on" in srv.log()

        r = await http.post(f"{srv.url}/api/shows/{show_id}/viewing-sessions", headers=owner)
        assert r.status == 201, await r.text()
        hls_url = (await r.json())["hls_url"]

        async def newest_segment() -> int:
            async with http.get(hls_url) as r:
                text = await r.text() if r.status == 200 else ""
            found = re.findall(r"seg-(\d+)\.m4s", text)
            return int(found[-1]) if found else -1

        first = await wait_until(newest_segment, lambda n: n >= 0, 60)
        await wait_until(newest_segment, lambda n: n >= first + 2, 60)  # the live show goes on
        assert proc.poll() is None and await stream_state(http, srv.url, slug) == "live"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        undo()


async def test_a_server_killed_while_recording_closes_the_recording_when_it_starts_again(
    server_process: Any, http: aiohttp.ClientSession
) -> None:
    srv = server_process()
    token, owner = await account(http, srv.url)
    slug, key, show_id = await show_with_replay(http, srv.url, owner)
    directory = srv.data_dir / "recordings" / show_id
    proc = ffmpeg_publish(f"{srv.rtmp_url}/{key}", 120)
    try:
        await wait_until(lambda: stream_state(http, srv.url, slug), lambda s: s == "live", 60)
        await wait_until(lambda: recording(http, srv.url, slug, owner), lambda r: r.get("segments", 0) >= 2, 60)
        srv.proc.kill()  # SIGKILL: nothing closes the recording
        await asyncio.to_thread(srv.proc.wait, 30)
    finally:
        proc.kill()
        proc.wait(10)
    meta = json.loads((directory / "recording.json").read_text())
    left = (directory / "index.m3u8").read_text()
    assert meta["state"] == "recording" and "#EXT-X-ENDLIST" not in left
    listed = re.findall(r"^(seg-\d+\.m4s)$", left, re.M)
    assert len(listed) >= 2

    await asyncio.to_thread(srv.start)
    meta = json.loads((directory / "recording.json").read_text())
    assert meta["state"] == "ended" and meta["recovered"] is True
    assert "closed 1 recordings a previous process left open: " + show_id in srv.log()
    r = await http.get(f"{srv.url}/replay/{show_id}/index.m3u8", headers=owner)
    text = await r.text()
    assert r.status == 200 and text.endswith("#EXT-X-ENDLIST\n")
    assert re.findall(r"^(seg-\d+\.m4s)$", text, re.M)[: len(listed)] == listed  # at most the last one lost
    assert not list(directory.glob("*.tmp"))
    probed = await ffprobe(f"{srv.url}/replay/{show_id}/index.m3u8", token)
    assert sorted(s["codec_name"] for s in probed["streams"]) == ["aac", "h264"]
    assert float(probed["format"]["duration"]) >= len(listed) * SEGMENT - 1
