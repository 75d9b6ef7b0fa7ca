"""The show analytics recorder: one per node, a lifecycle part (``analytics``).

Every ``--analytics-sample-s`` seconds (10 by default), on period boundaries of the wall clock:

1. This node's audience (server.audience) gives its viewers now per room and latency class,
   and the watch time of the viewers that joined, left or are due (every ``WRITE_EVERY``
   periods; server.audience says how far a stored total may lag); its engagement tallies
   (server.engagement) give chat, song and moderation activity. Both are added to the room's
   current show (``Catalog.current_show``), so a free room without tickets is recorded too.
2. With Redis, the node reports its viewer counts per room in ``PREFIX:aud:ROOM`` (a hash:
   node URL -> "webrtc hls time", expiring after three periods).
3. The node that holds the room's ingest (the room directory guarantees one in the cluster)
   writes the period's sample: its own counts plus every other node's latest report no older
   than two periods, and the stream's health. The sample is keyed by the period's start, so
   it is stored once even if two nodes briefly both think they hold the room.

A failing period (database or Redis down) is logged and counted in
``nal_analytics_errors_total``; the next one goes on. What a node held in memory for a failed
period is lost, never added twice. The cost per period is one pass over the tracked viewers
and one batched upsert per table (about a third of the watching viewers); per room event it is
one dict update (BENCHMARKS.md). A viewer without a viewing grant is keyed by its session
cookie when signed in (the store records it as its user), else by address and User-Agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import Counter, Gauge

from media.hls.edge import EDGE_AGENT
from media.hls.service import PlaylistAsked
from media.hub import Hub, Stream
from media.webrtc.errors import SessionNotFound
from media.webrtc.session import WebRtc
from server.access import GRANT, ShowAccess
from server.analytics_store import AnalyticsStore, Sample
from server.audience import CLASSES, HLS, WEBRTC, Audience, Watched
from server.auth import SESSION_COOKIE, token_hash
from server.engagement import Engagement
from ticketing.errors import BadToken
from ticketing.service import Ticketing

log = logging.getLogger("notalabel.analytics")

SHOW_CACHE_S = 5.0
HLS_IDLE_S = 6.0
"""An LL-HLS client counts as watching for this long after its last playlist fetch: LL-HLS
players fetch every part, others once a target duration (at most 6 s with our segmenter);
a longer pause (a stalled or busy client) would otherwise split one viewing in two and lose
the gap from its watch time. Watch time itself ends at the last fetch, not 6 s later."""
WRITE_EVERY = 3
"""A watching viewer's time is written every this many periods (and when it joins and
leaves): a period writes a third of the continuing viewers (BENCHMARKS.md)."""
SHOW_LEAD_S = 3600.0
"""A stream up to an hour before a show's start belongs to it (sound checks, early doors)."""

VIEWERS = Gauge("nal_viewers", "Viewers watching on this node now, by latency class", ["latency_class"])
WATCH_SECONDS = Counter("nal_watch_seconds_total", "Seconds of watching counted on this node", ["latency_class"])
VIEWING_STARTS = Counter("nal_viewing_sessions_total", "Viewers that started watching on this node",
                         ["latency_class"])
CHAT_MESSAGES = Counter("nal_chat_messages_total", "Chat messages accepted on this node")
SAMPLES = Counter("nal_analytics_samples_total", "Show samples written by this node, by result", ["result"])
ERRORS = Counter("nal_analytics_errors_total", "Analytics periods that failed on this node", ["stage"])
SHOW_PEAK = Gauge("nal_show_peak_viewers", "Peak concurrent viewers of the live shows this node samples "
                                          "(largest of them; 0 once they end)")


@functools.lru_cache(maxsize=65_536)
def viewer_key(ticket_key: str) -> tuple[str, int | None]:
    """The analytics key of a viewing grant's ticket and the user it names, if it does
    (computed once per ticket: a player asks for a playlist five times a second)."""
    if ticket_key.startswith("staff-"):
        uid = ticket_key.split("-")[1]
        return f"staff:{uid}", int(uid) if uid.isascii() and uid.isdigit() else None
    return f"t:{ticket_key}", None


def client_key(request: web.Request, agent: str | None = None) -> str:
    """The key of a client without a viewing grant: its session (``s:`` + the session's token
    hash, which the store turns into its user) when it is signed in, else ``a:`` + a hash of
    its address and User-Agent."""
    headers = request.headers
    if agent is None:
        agent = headers.get("User-Agent", "")
    return client_key_of(str(request.remote), agent, headers.get("Cookie", ""))


@functools.lru_cache(maxsize=65_536)
def client_key_of(address: str, agent: str, cookie: str) -> str:
    """Computed once per (address, User-Agent, Cookie): a player asks for every part."""
    session = _cookie(cookie, SESSION_COOKIE) if SESSION_COOKIE in cookie else None
    if session:
        return "s:" + token_hash(session)
    return "a:" + hashlib.sha256(f"{address}|{agent}".encode()).hexdigest()[:24]


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"') or None
    return None


class Recorder:
    def __init__(self, *, store: AnalyticsStore, ticketing: Ticketing, access: ShowAccess, hub: Hub,
                 period_s: float, node: str, redis: aioredis.Redis | None = None, prefix: str = "nal",
                 holds: Callable[[str], bool] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ticketing = ticketing
        self.access = access
        self.hub = hub
        self.period_s = period_s
        self.node = node
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.audience = Audience(hls_idle_s=HLS_IDLE_S, write_every=WRITE_EVERY)
        self.engagement = Engagement()
        self.webrtc: WebRtc | None = None
        self.holds = holds or (lambda slug: True)
        self.restreams: dict[str, dict[int, str]] = {}
        self._live: set[str] = set()
        self._reported: set[str] = set()
        self._shows: dict[str, tuple[float, str | None]] = {}
        self._peaks: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsubscribe = hub.on_state_change(self._stream_changed)

    # --- what the rest of the server feeds in ---------------------------------------------

    def _stream_changed(self, stream: Stream) -> None:
        if self.hub.get(stream.slug) is not None:
            self._live.add(stream.slug)

    def hls_playlist(self, asked: PlaylistAsked) -> None:
        """An LL-HLS playlist was served (media.hls.http and its fast path call this): the
        client was watching from the moment it asked. Its token was verified when it was
        admitted; this asks the same memory (ShowAccess.tokens), not the HMAC again."""
        if asked.user_agent.startswith(EDGE_AGENT):
            return
        key, user = None, None
        if asked.token:
            try:
                key, user = viewer_key(self.access.tokens.verify(asked.token, self.access.clock()).ticket_id)
            except BadToken:
                pass
        if key is None:
            key = client_key_of(asked.remote, asked.user_agent, asked.cookie)
        if self.audience.hls_seen(asked.slug, key, user, asked.arrived):
            VIEWING_STARTS.labels(HLS).inc()

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """aiohttp's response signal: a WHEP session opened (201 with its Location)."""
        location = response.headers.get("Location", "")
        if response.status != 201 or request.method != "POST" or not location.startswith("/whep/"):
            return
        parts = location.split("/")
        if len(parts) != 4:
            return
        grant = request.get(GRANT)
        key, user = viewer_key(grant.ticket_id) if grant is not None else (client_key(request), None)
        self.audience.whep_opened(parts[2], parts[3], key, user, self.clock())
        VIEWING_STARTS.labels(WEBRTC).inc()

    def published(self, slug: str, type_: str, data: dict[str, Any]) -> None:
        """The gateway published a room event for a socket's command (rooms.gateway)."""
        if type_ == "chat.message":
            CHAT_MESSAGES.inc()
        self.engagement.record(slug, type_, data, self.clock())

    def whep_ended(self, session: Any) -> None:
        """media.webrtc's session end (``WebRtc.on_end``): a WHEP viewer left now."""
        if session.kind == "whep":
            self.audience.whep_ended(session.id, self.clock())

    def attach(self, webrtc: WebRtc | None) -> None:
        self.webrtc = webrtc
        if webrtc is not None:
            webrtc.on_end.append(self.whep_ended)

    def relay_state(self, slug: str, status: dict[str, Any]) -> None:
        if isinstance(status.get("id"), int):
            self.restreams.setdefault(slug, {})[status["id"]] = str(status.get("state", ""))[:16]

    # --- the period -----------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """``--analytics-sample-s 0`` records nothing (the hooks are not installed)."""
        return self.period_s > 0

    async def start(self) -> None:
        if not self.enabled:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="analytics")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.enabled:
            self._stopping = True  # the last period writes every viewer's time
            with contextlib.suppress(Exception):
                await self.tick()  # what the last partial period saw

    async def _run(self) -> None:
        while True:
            now = self.clock()
            await asyncio.sleep(self.period_s - now % self.period_s)
            await self.tick()

    async def tick(self) -> None:
        now = self.clock()
        at = now - now % self.period_s
        counts = self.audience.counts(now)
        watched = self.audience.drain(now, self._whep_alive, flush=self._stopping)
        tallies = self.engagement.drain()
        live = {slug for slug in self._live if self.hub.get(slug) is not None}
        self._live = live
        slugs = set(counts) | {w.slug for w in watched} | set(tallies) | live
        shows = await self._current_shows(slugs, now)
        self._count(counts, watched)
        try:
            await self.store.add_watched(shows, watched)
            await self.store.add_tallies(shows, tallies)
        except Exception:  # noqa: BLE001 - one failed period is lost, the next goes on
            ERRORS.labels("store").inc()
            log.exception("analytics: storing the period failed")
        others = await self._report(counts, now)
        for slug in live:
            if slug in shows and self.holds(slug):
                await self._sample(shows[slug], slug, at, counts.get(slug), others.get(slug, []))
        for slug in set(self._peaks) - live:
            del self._peaks[slug]
        SHOW_PEAK.set(max(self._peaks.values(), default=0))

    def _whep_alive(self, slug: str, session: str) -> bool:
        if self.webrtc is None:
            return False
        try:
            return not self.webrtc.session("whep", slug, session).ended
        except SessionNotFound:
            return False

    def _count(self, counts: dict[str, dict[str, int]], watched: list[Watched]) -> None:
        for kind in CLASSES:
            VIEWERS.labels(kind).set(sum(room[kind] for room in counts.values()))
        for w in watched:
            WATCH_SECONDS.labels(w.kind).inc(w.seconds)

    async def _current_shows(self, slugs: set[str], now: float) -> dict[str, str]:
        out = {}
        for slug in slugs:
            cached = self._shows.get(slug)
            if cached is None or now - cached[0] >= SHOW_CACHE_S:
                try:
                    show = await self.ticketing.catalog.current_show(slug, now, SHOW_LEAD_S)
                except Exception:  # noqa: BLE001 - database down: this period is not recorded
                    ERRORS.labels("show").inc()
                    log.exception("analytics: finding the show of %s failed", slug)
                    continue
                cached = (now, show.id if show is not None else None)
                if len(self._shows) > 10_000:
                    self._shows.clear()
                self._shows[slug] = cached
            if cached[1] is not None:
                out[slug] = cached[1]
        return out

    # --- across nodes ---------------------------------------------------------------------

    def _key(self, slug: str) -> str:
        return f"{self.prefix}:aud:{slug}"

    async def _report(self, counts: dict[str, dict[str, int]], now: float) -> dict[str, list[tuple[int, int]]]:
        """Tell the other nodes our counts; read theirs for the rooms we sample."""
        if self.redis is None:
            return {}
        ttl = max(1, int(self.period_s * 3 * 1000))
        sampled = [slug for slug in self._live if self.holds(slug)]
        found: dict[str, list[tuple[int, int]]] = {}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug in set(counts) | self._reported:
                    room = counts.get(slug, {WEBRTC: 0, HLS: 0})
                    pipe.hset(self._key(slug), self.node, f"{room[WEBRTC]} {room[HLS]} {now}")
                    pipe.pexpire(self._key(slug), ttl)
                for slug in sampled:
                    pipe.hgetall(self._key(slug))
                results = await pipe.execute()
        except Exception:  # noqa: BLE001 - Redis down: sample this node's own counts
            ERRORS.labels("redis").inc()
            log.exception("analytics: reporting viewer counts failed")
            return {}
        self._reported = set(counts)
        for slug, reports in zip(sampled, results[len(results) - len(sampled):], strict=True):
            found[slug] = _others(reports, self.node, now - 2 * self.period_s)
        return found

    async def _sample(self, show_id: str, slug: str, at: float, mine: dict[str, int] | None,
                      others: list[tuple[int, int]]) -> None:
        mine = mine or {WEBRTC: 0, HLS: 0}
        webrtc = mine[WEBRTC] + sum(w for w, _h in others)
        hls = mine[HLS] + sum(h for _w, h in others)
        stream = self.hub.get(slug)
        state = stream.state_dict() if stream is not None else {}
        interval = state.get("keyframe_interval")
        drops = sum(r.drops for r in stream.readers) if stream is not None else None
        restreams = ",".join(f"{k}:{v}" for k, v in sorted(self.restreams.get(slug, {}).items()))
        sample = Sample(show_id, at, webrtc, hls, 1 + len(others), bitrate=state.get("bitrate"),
                        fps=state.get("fps"), keyframe_ms=int(interval * 1000) if interval else None,
                        reconnects=(stream.session - 1) if stream is not None else None, dropped=drops,
                        restreams=restreams[:2000])
        try:
            stored = await self.store.add_sample(sample)
        except Exception:  # noqa: BLE001 - the next period samples again
            ERRORS.labels("sample").inc()
            log.exception("analytics: storing the sample of %s failed", slug)
            return
        SAMPLES.labels("stored" if stored else "duplicate").inc()
        self._peaks[slug] = max(self._peaks.get(slug, 0), webrtc + hls)


def _others(reports: dict[Any, Any], node: str, since: float) -> list[tuple[int, int]]:
    out = []
    for who, value in reports.items():
        who = who.decode() if isinstance(who, bytes) else str(who)
        text = value.decode() if isinstance(value, bytes) else str(value)
        parts = text.split()
        if who == node or len(parts) != 3:
            continue
        try:
            webrtc, hls, when = int(parts[0]), int(parts[1]), float(parts[2])
        except ValueError:
            continue
        if when >= since:
            out.append((webrtc, hls))
    return out
