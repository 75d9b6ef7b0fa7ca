"""Paid song-request boosts: checkout for a queued request, the ledger gives the song's
writers their share, the room's queue carries the boost."""

from __future__ import annotations

from pathlib import Path

from tests.support.money import running
from tests.support.roomsocket import RoomSocket


async def test_a_paid_boost_pays_the_writers_and_reaches_the_queue(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, _ = await srv.signup("perf")
        fan, token = await srv.signup("fay")
        slug = await srv.room(owner)
        song = {"title": "Blue", "writers": [{"name": "Ann Writer", "share_bps": 7000, "ipi": "00012345678"},
                                             {"name": "Bo Writer", "share_bps": 3000}]}
        r = await srv.http.post(f"/api/rooms/{slug}/songs", json=song, headers=owner)
        assert r.status == 201, await r.text()
        song_id = (await r.json())["id"]
        sock = await RoomSocket.connect(srv.http, srv.ws_url, slug, token)
        assert (await sock.op("song.request", song_id=song_id))["type"] == "ack"
        await sock.wait_for(lambda: any(e["type"] == "song.queue" for e in sock.events))
        request_id = [e for e in sock.events if e["type"] == "song.queue"][-1]["data"]["queue"][0]["id"]
        r = await srv.http.post(f"/api/rooms/{slug}/song-requests/nope/boosts", json={"amount": 1000}, headers=fan)
        assert r.status == 404
        r = await srv.http.post(f"/api/rooms/{slug}/song-requests/{request_id}/boosts", json={"amount": 1000},
                                headers=fan)
        assert r.status == 201, await r.text()
        boost = await r.json()
        assert (await srv.sandbox(boost["checkout_url"], "pay")).status == 200
        await sock.wait_for(lambda: any(e["type"] == "song.boost" for e in sock.events))
        [ev] = [e["data"] for e in sock.events if e["type"] == "song.boost"]
        assert (ev["request_id"], ev["boost_id"], ev["amount"], ev["currency"], ev["from"]) == (
            request_id, boost["boost_id"], 1000, "USD", "fay")
        await sock.wait_for(lambda: any(e["type"] == "song.queue" and e["data"]["queue"][0]["boost_minor"] == 1000
                                        for e in sock.events))
        # 1000 - fee (29 + 30) - commission 100 = 841 net: writers 10% (84: 59 / 25), the owner the rest
        ann, bo = await srv.balances("writer:ipi:00012345678"), await srv.balances("writer:bo writer")
        me = await (await srv.http.get("/api/me", headers=owner)).json()
        assert (ann["earnings"], bo["earnings"], (await srv.balances(f"user:{me['id']}"))["earnings"]) == (59, 25, 757)
        await srv.ledger_ok()
        await sock.ws.close()
