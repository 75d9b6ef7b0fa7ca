"""An in-memory RoomStore: a test double of our own interface (rooms/ports.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rooms.ports import RoomInfo, Song


class MemoryStore:
    def __init__(self) -> None:
        self.users = {"olga": 1, "hank": 2, "fay": 3, "finn": 4, "troll": 5}
        self.rooms = {"olga": RoomInfo(7, "olga", "Olga live", owner_id=1, host_ids=frozenset({2}))}
        self.bans: dict[int, set[int]] = {}
        self.songs = {(7, 11): Song(11, "Blue", "Olga")}
        self.settings: dict[int, dict[str, Any]] = {}
        self.timeouts_: dict[int, dict[int, float]] = {}
        self.votes: dict[int, dict[str, set[int]]] = {}

    async def room(self, slug: str) -> RoomInfo | None:
        return self.rooms.get(slug)

    async def user_id(self, username: str) -> int | None:
        return self.users.get(username)

    async def banned_user_ids(self, room_id: int) -> set[int]:
        return set(self.bans.get(room_id, set()))

    async def set_ban(self, room_id: int, user_id: int, by_user_id: int, banned: bool) -> None:
        bans = self.bans.setdefault(room_id, set())
        (bans.add if banned else bans.discard)(user_id)

    async def song(self, room_id: int, song_id: int) -> Song | None:
        return self.songs.get((room_id, song_id))

    async def load_settings(self, room_id: int) -> dict[str, Any]:
        return dict(self.settings.get(room_id, {}))

    async def save_settings(self, room_id: int, settings: dict[str, Any]) -> None:
        self.settings[room_id] = dict(settings)

    async def timeouts(self, room_id: int, now: float) -> dict[int, float]:
        return {u: until for u, until in self.timeouts_.get(room_id, {}).items() if until > now}

    async def set_timeout(self, room_id: int, user_id: int, by_user_id: int, until: float | None) -> None:
        room = self.timeouts_.setdefault(room_id, {})
        if until is None:
            room.pop(user_id, None)
        else:
            room[user_id] = until

    async def song_voters(self, room_id: int) -> dict[str, set[int]]:
        return {rid: set(users) for rid, users in self.votes.get(room_id, {}).items()}

    async def add_vote(self, room_id: int, request_id: str, user_id: int) -> bool:
        voters = self.votes.setdefault(room_id, {}).setdefault(request_id, set())
        if user_id in voters:
            return False
        voters.add(user_id)
        return True

    async def remove_vote(self, room_id: int, request_id: str, user_id: int) -> None:
        self.votes.get(room_id, {}).get(request_id, set()).discard(user_id)

    async def forget_votes(self, room_id: int, request_ids: tuple[str, ...]) -> None:
        for rid in request_ids:
            self.votes.get(room_id, {}).pop(rid, None)

    def add_host(self, slug: str, user_id: int) -> None:
        info = self.rooms[slug]
        self.rooms[slug] = replace(info, host_ids=info.host_ids | {user_id})
