"""The song-request queue of one room, Sans-I/O.

Rules (enforced by ``core`` before publishing and again here when a change is applied, so
every replica that applies the same changes in the same order ends in the same queue):

- one open request (queued or playing) per requester;
- one vote per user per request;
- order: ``boost_minor`` descending (the sum of the request's paid boosts), then votes
  descending, then request time ascending, then id;
- a paid boost (``song.boost`` event ``{"request_id", "boost_id", "amount", ...}``) adds its
  amount once per ``boost_id``; a boost for a request no longer queued changes nothing;
- at most one request is ``playing``; ``play`` moves the previous one out of the queue;
  ``skip`` and ``done`` remove a request.

Changes travel inside ``song.queue`` events as ``change``: ``{"op": "request", "request":
{...}}``, ``{"op": "vote", "request_id", "user_id"}``, ``{"op": "play"|"skip"|"done",
"request_id"}``, ``{"op": "boost", "request_id", "boost_id", "amount"}`` (the same boost
again, so the queue a ``song.queue`` carries, which outlives history, includes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MAX_OPEN_REQUESTS = 200


@dataclass
class SongRequestEntry:
    id: str
    song_id: int
    title: str
    artist: str
    user_id: int
    user_name: str
    ts: float
    boost_minor: int = 0
    status: str = "queued"
    voters: set[int] = field(default_factory=set)
    boost_ids: set[str] = field(default_factory=set)
    base_votes: int = 0
    """Votes restored from a ``song.queue`` event whose voters this replica does not know."""

    @property
    def votes(self) -> int:
        return self.base_votes + len(self.voters)

    def order_key(self) -> tuple[int, int, int, float, str]:
        playing_first = 0 if self.status == "playing" else 1
        return (playing_first, -self.boost_minor, -self.votes, self.ts, self.id)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "song": {"id": self.song_id, "title": self.title, "artist": self.artist},
            "by": {"id": self.user_id, "name": self.user_name},
            "votes": self.votes,
            "boost_minor": self.boost_minor,
            "status": self.status,
            "ts": self.ts,
        }

    def change(self) -> dict[str, Any]:
        """The ``request`` change that recreates this entry on another replica."""
        return {
            "id": self.id,
            "song_id": self.song_id,
            "title": self.title,
            "artist": self.artist,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "ts": self.ts,
            "boost_minor": self.boost_minor,
        }

    @classmethod
    def from_wire(cls, w: dict[str, Any]) -> SongRequestEntry:
        song, by = w["song"], w["by"]
        return cls(
            id=str(w["id"]),
            song_id=int(song["id"]),
            title=str(song["title"]),
            artist=str(song["artist"]),
            user_id=int(by["id"]),
            user_name=str(by["name"]),
            ts=float(w["ts"]),
            boost_minor=int(w.get("boost_minor", 0)),
            status=str(w.get("status", "queued")),
            base_votes=int(w.get("votes", 0)),
        )

    @classmethod
    def from_change(cls, c: dict[str, Any]) -> SongRequestEntry:
        return cls(
            id=str(c["id"]),
            song_id=int(c["song_id"]),
            title=str(c["title"]),
            artist=str(c["artist"]),
            user_id=int(c["user_id"]),
            user_name=str(c["user_name"]),
            ts=float(c["ts"]),
            boost_minor=int(c.get("boost_minor", 0)),
        )


class SongQueue:
    def __init__(self) -> None:
        self.requests: dict[str, SongRequestEntry] = {}

    def __len__(self) -> int:
        return len(self.requests)

    def ordered(self) -> list[SongRequestEntry]:
        return sorted(self.requests.values(), key=SongRequestEntry.order_key)

    def wire(self) -> list[dict[str, Any]]:
        return [r.wire() for r in self.ordered()]

    @classmethod
    def from_wire(cls, queue: list[dict[str, Any]]) -> SongQueue:
        """Rebuild from a ``song.queue`` event's ``queue`` (votes known as counts only)."""
        restored = cls()
        for w in queue:
            entry = SongRequestEntry.from_wire(w)
            restored.requests[entry.id] = entry
        return restored

    def restore_voters(self, voters: dict[str, set[int]]) -> None:
        """Who voted, as stored beside the queue (a queue restored from a ``song.queue``
        event knows only counts): one vote per user again after a reload. A request's
        count stays what the queue said, or the number of known voters if that is more."""
        for entry in self.requests.values():
            known = voters.get(entry.id)
            if not known:
                continue
            total = entry.votes
            entry.voters |= known
            entry.base_votes = max(0, total - len(entry.voters))

    def voted_by(self, user_id: int) -> list[str]:
        """The ids of the requests ``user_id`` voted for (a fan's "voted" state after a reload)."""
        return [r.id for r in self.ordered() if user_id in r.voters]

    def open_request_of(self, user_id: int) -> SongRequestEntry | None:
        return next((r for r in self.requests.values() if r.user_id == user_id), None)

    def get(self, request_id: str) -> SongRequestEntry | None:
        return self.requests.get(request_id)

    # --- applying changes (idempotent, validated) --------------------------------------

    def apply(self, change: dict[str, Any]) -> bool:
        """Apply one change; return False when the rules make it a no-op here."""
        op = change.get("op")
        if op == "request":
            return self._add(SongRequestEntry.from_change(change["request"]))
        entry = self.requests.get(str(change.get("request_id")))
        if entry is None:
            return False
        if op == "vote":
            return self._vote(entry, int(change["user_id"]))
        if op == "boost":
            return self.boost(entry.id, str(change["boost_id"]), change["amount"])
        if op == "play":
            return self._play(entry)
        if op in ("skip", "done"):
            del self.requests[entry.id]
            return True
        return False

    def _add(self, entry: SongRequestEntry) -> bool:
        if entry.id in self.requests or self.open_request_of(entry.user_id) is not None:
            return False
        if len(self.requests) >= MAX_OPEN_REQUESTS:
            return False
        self.requests[entry.id] = entry
        return True

    @staticmethod
    def _vote(entry: SongRequestEntry, user_id: int) -> bool:
        if user_id in entry.voters:
            return False
        entry.voters.add(user_id)
        return True

    def _play(self, entry: SongRequestEntry) -> bool:
        for other in [r for r in self.requests.values() if r.status == "playing"]:
            if other is not entry:
                del self.requests[other.id]
        entry.status = "playing"
        return True

    def boost(self, request_id: str, boost_id: str, amount: int) -> bool:
        """A paid boost raises a request in the order (once per ``boost_id``)."""
        entry = self.requests.get(request_id)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("a boost's amount is a positive integer of minor units")
        if entry is None or boost_id in entry.boost_ids:
            return False
        entry.boost_ids.add(boost_id)
        entry.boost_minor += amount
        return True


def copy_queue(queue: SongQueue) -> SongQueue:
    """A deep copy, to preview what a change will do before it is published."""
    other = SongQueue()
    for r in queue.requests.values():
        other.requests[r.id] = replace(r, voters=set(r.voters), boost_ids=set(r.boost_ids))
    return other
