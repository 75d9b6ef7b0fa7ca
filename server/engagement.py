"""Room activity per show, counted from the room events a node publishes (pure: no I/O).

The gateway calls :meth:`Engagement.record` once per event it published for a socket's
command, so every event is counted once in the cluster, on the node that accepted it:

* ``chat.message``: a chat message by its sender;
* ``song.queue`` with change ``request``: a song request; ``vote``: a vote; ``play``: a
  song marker (the request's title and artist, at that time);
* ``mod.notice`` (timeout, ban, unban) and ``chat.hidden`` (a deletion): a moderation action.

Everything else is ignored. The tallies wait in memory until the recorder drains them
(every sample period) and adds them to the store; memory is bounded by the rooms active in
one period.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHAT, REQUESTS, VOTES, MODERATION = range(4)


@dataclass
class Tally:
    minutes: dict[float, list[int]] = field(default_factory=dict)
    """Minute start (epoch seconds) -> [chat, requests, votes, moderation]."""
    chatters: Counter[int] = field(default_factory=Counter)
    marks: dict[str, tuple[float, str]] = field(default_factory=dict)
    """Request id -> (when it started playing, "Title - Artist")."""
    ends: dict[str, float] = field(default_factory=dict)
    """Request id -> when it was done (``song.done``): the end of its chapter."""
    requested: dict[str, tuple[float, str]] = field(default_factory=dict)
    """Request id -> (when it was requested, "Title - Artist")."""

    def add(self, column: int, now: float) -> None:
        minute = float(int(now // 60) * 60)
        self.minutes.setdefault(minute, [0, 0, 0, 0])[column] += 1


class Engagement:
    def __init__(self) -> None:
        self._rooms: dict[str, Tally] = {}

    def record(self, slug: str, type_: str, data: dict[str, Any], now: float) -> None:
        if type_ == "chat.message":
            tally = self._tally(slug)
            tally.add(CHAT, now)
            user = data.get("user")
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                tally.chatters[user["id"]] += 1
        elif type_ in ("mod.notice", "chat.hidden"):
            self._tally(slug).add(MODERATION, now)
        elif type_ == "song.queue":
            self._song(slug, data, now)

    def _song(self, slug: str, data: dict[str, Any], now: float) -> None:
        change = data.get("change")
        op = change.get("op") if isinstance(change, dict) else None
        if op == "request" and isinstance(change, dict):
            tally = self._tally(slug)
            tally.add(REQUESTS, now)
            request = change.get("request") or {}
            rid = str(request.get("id", ""))[:60]
            title, artist = str(request.get("title", "")), str(request.get("artist", ""))
            tally.requested[rid] = (now, f"{title} - {artist}"[:400] if artist else title[:400])
        elif op == "vote":
            self._tally(slug).add(VOTES, now)
        elif op == "play" and isinstance(change, dict):
            rid = str(change.get("request_id", ""))[:60]
            self._tally(slug).marks[rid] = (now, _title(data.get("queue"), rid))
        elif op == "done" and isinstance(change, dict):
            self._tally(slug).ends[str(change.get("request_id", ""))[:60]] = now

    def _tally(self, slug: str) -> Tally:
        tally = self._rooms.get(slug)
        if tally is None:
            tally = self._rooms[slug] = Tally()
        return tally

    def drain(self) -> dict[str, Tally]:
        out, self._rooms = self._rooms, {}
        return out


def _title(queue: object, request_id: str) -> str:
    for entry in queue if isinstance(queue, list) else ():
        if isinstance(entry, dict) and entry.get("id") == request_id:
            song = entry.get("song") or {}
            title, artist = str(song.get("title", "")), str(song.get("artist", ""))
            return f"{title} - {artist}"[:400] if artist else title[:400]
    return ""
