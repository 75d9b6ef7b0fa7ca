"""Who is watching on this node, per room and latency class, and for how long (pure: no I/O,
the time is passed in).

Rules:

* A WebRTC viewer is a WHEP session: it counts from the 201 that opened it until the
  session ends (``whep_ended``; a session found gone at a sample without that ends then).
* An LL-HLS viewer is a client that fetched the room's playlist in the last ``hls_idle_s``
  seconds; players following the live edge fetch it every part (blocking reloads) or every
  target duration. The client is its viewing session's ticket when the playlist carries a
  viewing token, else a hash of its address and User-Agent (``server.analytics`` builds
  the key). An LL-HLS edge node pulling from the origin is not a viewer (the edge counts the
  viewers it serves itself).
* Watch time is handed to the store by :meth:`Audience.drain` when a viewer is first seen,
  when it leaves (up to its last sign of life; then it is forgotten here), and every
  ``write_every`` periods in between (staggered by when each viewer joined), so a period
  writes about 1/``write_every`` of the continuing viewers instead of all of them. A stored
  total lags by at most ``write_every`` periods while the viewer watches (what a crash of
  the node loses); once the viewer has left it is exact. ``drain(..., flush=True)`` writes
  everyone (the last period, at shutdown).
* Bounded: at most ``max_viewers`` tracked; past that new LL-HLS clients are not counted
  (``overflow`` says how many were refused) and WHEP sessions are capped by the WHEP caps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WEBRTC = "webrtc"
HLS = "hls"
CLASSES = (WEBRTC, HLS)


@dataclass(slots=True)
class Viewer:
    slug: str
    key: str
    kind: str
    user_id: int | None
    first_seen: float
    last_seen: float
    counted_to: float
    """Watch time has been reported up to this time."""
    ended_at: float | None = None
    unwritten: int = -1
    """Periods since the viewer's time was last handed out (-1: never yet)."""


@dataclass(frozen=True)
class Watched:
    """One viewer's watch time since the last drain (what the store adds up)."""

    slug: str
    key: str
    kind: str
    user_id: int | None
    first_seen: float
    last_seen: float
    seconds: float


class Audience:
    def __init__(self, hls_idle_s: float, max_viewers: int = 200_000, write_every: int = 1) -> None:
        self.hls_idle_s = hls_idle_s
        self.write_every = max(1, write_every)
        self.max_viewers = max_viewers
        self._hls: dict[tuple[str, str], Viewer] = {}
        self._whep: dict[str, Viewer] = {}
        self.overflow = 0

    def __len__(self) -> int:
        return len(self._hls) + len(self._whep)

    def hls_seen(self, slug: str, key: str, user_id: int | None, now: float) -> bool:
        """A playlist fetch (the hot path: one dict lookup); True when the viewer is new."""
        viewer = self._hls.get((slug, key))
        if viewer is not None:
            if now > viewer.last_seen:
                viewer.last_seen = now
            return False
        if len(self) >= self.max_viewers:
            self.overflow += 1
            return False
        self._hls[(slug, key)] = Viewer(slug, key, HLS, user_id, now, now, now)
        return True

    def whep_opened(self, slug: str, session: str, key: str, user_id: int | None, now: float) -> None:
        self._whep[session] = Viewer(slug, key, WEBRTC, user_id, now, now, now)

    def whep_ended(self, session: str, now: float) -> None:
        viewer = self._whep.get(session)
        if viewer is not None:
            viewer.ended_at = now

    def _hls_active(self, viewer: Viewer, now: float) -> bool:
        return now - viewer.last_seen <= self.hls_idle_s

    def counts(self, now: float) -> dict[str, dict[str, int]]:
        """Viewers now per room and class (rooms with none are absent)."""
        out: dict[str, dict[str, int]] = {}
        for viewer in self._whep.values():
            if viewer.ended_at is not None:
                continue
            room = out.setdefault(viewer.slug, {WEBRTC: 0, HLS: 0})
            room[WEBRTC] += 1
        for viewer in self._hls.values():
            if self._hls_active(viewer, now):
                room = out.setdefault(viewer.slug, {WEBRTC: 0, HLS: 0})
                room[HLS] += 1
        return out

    def drain(self, now: float, whep_alive: Callable[[str, str], bool], flush: bool = False) -> list[Watched]:
        """Watch time to store: of viewers new since the last drain, of those who left (then
        forgotten), and of those due (every ``write_every`` periods, or all with ``flush``)."""
        out: list[Watched] = []
        for sid, viewer in list(self._whep.items()):
            if viewer.ended_at is None and whep_alive(viewer.slug, sid):
                viewer.last_seen = now
                if self._due(viewer, flush):
                    out.append(_watched(viewer, now))
            else:
                del self._whep[sid]
                viewer.last_seen = viewer.ended_at if viewer.ended_at is not None else now
                out.append(_watched(viewer, viewer.last_seen))
        for key, viewer in list(self._hls.items()):
            if not self._hls_active(viewer, now):
                del self._hls[key]
                out.append(_watched(viewer, viewer.last_seen))
            elif self._due(viewer, flush):
                out.append(_watched(viewer, viewer.last_seen))
        return out

    def _due(self, viewer: Viewer, flush: bool) -> bool:
        viewer.unwritten += 1
        if flush or viewer.unwritten % self.write_every == 0:
            viewer.unwritten = 0
            return True
        return False


def _watched(viewer: Viewer, upto: float) -> Watched:
    seconds = max(0.0, upto - viewer.counted_to)
    viewer.counted_to = max(viewer.counted_to, upto)
    return Watched(viewer.slug, viewer.key, viewer.kind, viewer.user_id, viewer.first_seen, viewer.last_seen,
                   seconds)
