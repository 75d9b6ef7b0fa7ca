"""A show's analytics as one JSON document (``GET /api/shows/{id}/analytics``) and its
series as CSV, read from the per-show record (server/analytics_store.py) and the ledger
(server/show_money.py).

Audience figures: the peak is the largest sample (WebRTC + LL-HLS, summed over nodes) and
its time; unique viewers are the distinct keys seen (a ticket counts as its owner, staff as
themselves, an anonymous client once); watch time is what the recorder added up. New versus
returning fans: signed-in viewers who watched an earlier show of the room are returning.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server import show_money
from server.analytics import SHOW_LEAD_S
from server.analytics_store import AnalyticsStore
from ticketing import tables as tt
from ticketing.model import Show

SERIES = ("viewers", "health", "chat", "revenue", "marks")
MONEY_SERIES = frozenset({"revenue"})


async def _ticket_owners(engine: AsyncEngine, ticket_ids: list[str]) -> dict[str, int]:
    if not ticket_ids:
        return {}
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        for i in range(0, len(ticket_ids), 500):
            q = sa.select(tt.tickets.c.id, tt.tickets.c.owner_id).where(tt.tickets.c.id.in_(ticket_ids[i:i + 500]))
            out.update({r.id: r.owner_id for r in await conn.execute(q)})
    return out


async def audience(store: AnalyticsStore, show: Show) -> dict[str, Any]:
    samples = await store.samples(show.id)
    viewers = await store.viewers(show.id)
    owners = await _ticket_owners(store.engine, [v["viewer"][2:] for v in viewers if v["viewer"].startswith("t:")])
    people: dict[str, float] = {}
    users: set[int] = set()
    for v in viewers:
        uid = v["user_id"] if v["user_id"] is not None else owners.get(v["viewer"][2:])
        person = f"u:{uid}" if uid is not None else v["viewer"]
        people[person] = people.get(person, 0.0) + v["watch_s"]
        if uid is not None:
            users.add(uid)
    first = min((v["first_seen"] for v in viewers), default=show.starts_at)
    returning = await store.returning(show.id, show.room_id, users, first)
    peak = max(samples, key=lambda s: (s.webrtc + s.hls, -s.at), default=None)
    watch = sum(people.values())
    return {
        "peak": {"viewers": peak.webrtc + peak.hls, "webrtc": peak.webrtc, "hls": peak.hls, "at": peak.at}
        if peak else {"viewers": 0, "webrtc": 0, "hls": 0, "at": None},
        "now": {"webrtc": samples[-1].webrtc, "hls": samples[-1].hls, "at": samples[-1].at} if samples else None,
        "unique_viewers": len(people),
        "signed_in": len(users),
        "anonymous": len(people) - len(users),
        "watch_s": round(watch, 1),
        "average_watch_s": round(watch / len(people), 1) if people else 0.0,
        "returning_fans": returning,
        "new_fans": len(users) - returning,
    }


async def engagement(store: AnalyticsStore, show: Show) -> dict[str, Any]:
    minutes = await store.minutes(show.id)
    chatters = await store.chatters(show.id)
    marks = await store.marks(show.id)
    chat = sum(m["chat"] for m in minutes)
    requested = Counter(m["label"] for m in marks if m["kind"] == "request")
    return {
        "chat_messages": chat,
        "chat_per_minute": round(chat / len(minutes), 2) if minutes else 0.0,
        "distinct_chatters": len(chatters),
        "song_requests": sum(m["requests"] for m in minutes),
        "song_votes": sum(m["votes"] for m in minutes),
        "moderation_actions": sum(m["moderation"] for m in minutes),
        "top_songs": [{"song": s, "requests": n} for s, n in requested.most_common(10)],
    }


async def report(store: AnalyticsStore, show: Show, money: bool) -> dict[str, Any]:
    """The whole document; without ``money`` (a host) no amount appears anywhere."""
    samples = await store.samples(show.id)
    body: dict[str, Any] = {
        "show": {"id": show.id, "title": show.title, "room": show.room_slug, "starts_at": show.starts_at,
                 "ends_at": show.ends_at, "currency": show.currency},
        "sample_s": None,
        "audience": await audience(store, show),
        "engagement": await engagement(store, show),
        "series": {
            "viewers": [{"at": s.at, "webrtc": s.webrtc, "hls": s.hls, "total": s.webrtc + s.hls, "nodes": s.nodes}
                        for s in samples],
            "health": [{"at": s.at, "bitrate": s.bitrate, "fps": s.fps, "keyframe_ms": s.keyframe_ms,
                        "reconnects": s.reconnects, "dropped": s.dropped, "restreams": s.restreams}
                       for s in samples],
            "chat": [{k: m[k] for k in ("minute", "chat", "requests", "votes", "moderation")}
                     for m in await store.minutes(show.id)],
            "marks": _setlist(await store.marks(show.id)),
        },
    }
    if len(samples) > 1:
        body["sample_s"] = min(b.at - a.at for a, b in zip(samples, samples[1:], strict=False))
    if money:
        tiers = {r.id: r.name for r in await _tiers(store.engine, show.id)}
        money_part = await show_money.revenue(store.engine, show, SHOW_LEAD_S, tiers)
        body["revenue"] = money_part["currencies"]
        body["supporters"] = money_part["supporters"]
        body["series"]["revenue"] = money_part["series"]
    return body


def _setlist(marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The songs played, each from its ``song.play`` to its ``song.done`` (``end`` None while it
    plays): the same events, and so the same marks, as the replay's chapters."""
    ends = {m["ref"][2:]: m["at"] for m in marks if m["kind"] == "song_end"}
    return [{"at": m["at"], "kind": m["kind"], "label": m["label"], "end": ends.get(m["ref"][2:])}
            for m in marks if m["kind"] == "song"]


async def _tiers(engine: AsyncEngine, show_id: str) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(sa.select(tt.tiers.c.id, tt.tiers.c.name).where(tt.tiers.c.show_id == show_id)))


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return out.getvalue()


COLUMNS = {
    "viewers": ["at", "webrtc", "hls", "total", "nodes"],
    "health": ["at", "bitrate", "fps", "keyframe_ms", "reconnects", "dropped", "restreams"],
    "chat": ["minute", "chat", "requests", "votes", "moderation"],
    "revenue": ["minute", "source", "amount"],
    "marks": ["at", "kind", "label", "end"],
}
