"""LL-HLS from a node that does not hold the ingest: pull from the origin, once per URL.

A node serving ``/live/{slug}/...`` for a room whose stream another node holds asks
``locate(slug)`` for that node's base URL (the room directory) and fetches the same path
from it. Rules:

* **One upstream fetch per URL at a time.** Concurrent requests for the same upstream URL
  (a part, a segment, the same blocking playlist reload ``_HLS_msn``/``_HLS_part``) share
  one fetch: the first starts it in a task, the others await the same task (shielded, so a
  viewer that hangs up does not cancel it for the rest).
* **One directory lookup per room at a time**, its answer reused for ``LOCATE_TTL_S``: when
  it runs out, the requests that arrive during the next lookup share it, so hundreds of
  viewers cause one lookup a second, not one each (which drained the Redis connection pool,
  and a failed lookup answers as for an offline room).
* **Cached as the origin says.** A 200 whose ``Cache-Control`` has a ``max-age`` (parts,
  segments and numbered inits are immutable; playlists and blocking reloads have short
  ages) is kept that long, in a cache bounded to ``max_bytes`` (least recently used goes
  first). ``private``, ``no-cache`` and ``no-store`` answers (a gated room's, per viewer)
  and errors are never cached: they are only shared by requests in flight at once.
* The upstream URL keeps only the query the origin reads (``_HLS_msn``, ``_HLS_part`` and the
  viewing token ``vt``), in that order, so one reload is one cache entry whatever else a
  player appends.
* The answer carries the origin's status, type, ``Cache-Control`` and ``Retry-After``, so an
  HTTP cache in front of this node (the CDN) caches exactly what the origin allows. An
  origin that cannot be reached is 502 ``{"error": "origin unreachable"}`` (``no-store``).

:meth:`HlsEdge.pull` is the answer as kept (:class:`Pulled`), for the LL-HLS fast path
(media.hls.fastpath), which writes it itself; :meth:`HlsEdge.serve` makes it aiohttp's.

Slow consumers: the body is in memory once and written to each viewer; a slow
viewer holds only its own socket buffer.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from prometheus_client import Counter

log = logging.getLogger(__name__)

Locate = Callable[[str], Awaitable["str | None"]]
"""``locate(slug)``: the base URL of the node holding the room's ingest when it is another
one, else None."""

QUERY_KEYS = ("_HLS_msn", "_HLS_part", "vt")
PASSED_HEADERS = ("Cache-Control", "Retry-After")
LOCATE_TTL_S = 1.0
"""Seconds a directory answer is reused (a stream that moved is found within a second)."""

UPSTREAM = Counter("nal_hls_edge_upstream_total", "LL-HLS fetches from the origin by this edge.",
                   ["kind", "status"])
SERVED = Counter("nal_hls_edge_served_total", "LL-HLS answers of this edge, by where they came from.",
                 ["kind", "source"])

_SERVED_NAME = re.compile(r"^[0-9a-z-]{1,80}\.(?:m3u8|mp4|m4s)$")
_MAX_AGE = re.compile(r"max-age=(\d+)")
_NO_SHARE = ("private", "no-cache", "no-store")


@dataclass(frozen=True)
class Pulled:
    """One upstream answer as the edge keeps it."""

    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def max_age(self) -> float:
        """Seconds it may be reused; 0 for errors and for answers not to be shared."""
        cache = dict(self.headers).get("Cache-Control", "")
        if self.status != 200 or any(word in cache for word in _NO_SHARE):
            return 0.0
        match = _MAX_AGE.search(cache)
        return float(match.group(1)) if match else 0.0

    def response(self) -> web.Response:
        headers = {**dict(self.headers), "Access-Control-Allow-Origin": "*"}
        return web.Response(status=self.status, body=self.body, content_type=self.content_type,
                            headers=headers)


def kind_of(name: str) -> str:
    if name.endswith(".m3u8"):
        return "playlist"
    if name.endswith(".mp4"):
        return "init"
    return "part" if "part-" in name else "segment"


EDGE_AGENT = "notalabel-edge/1"
"""The User-Agent of an edge's pulls: the origin does not count an edge as a viewer."""


class HlsEdge:
    """The pulling cache of one node (see the module docstring)."""

    def __init__(self, locate: Locate, *, max_bytes: int = 64 * 1024 * 1024, timeout_s: float = 20.0) -> None:
        self._locate = locate
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[str, asyncio.Task[Pulled]] = {}
        self._cache: collections.OrderedDict[str, tuple[float, Pulled]] = collections.OrderedDict()
        self._cached_bytes = 0
        self._origins: dict[str, tuple[float, str | None]] = {}
        self._locating: dict[str, asyncio.Task[str | None]] = {}

    async def serve(self, request: web.Request, slug: str, name: str) -> web.StreamResponse | None:
        """The origin's answer for ``/live/{slug}/{name}``, or None when no other node holds
        the room (the caller answers as for an offline room)."""
        pulled = await self.pull(slug, name, request.query)
        return pulled.response() if pulled is not None else None

    async def pull(self, slug: str, name: str, query: Mapping[str, str]) -> Pulled | None:
        """:meth:`serve`'s answer as kept (the LL-HLS fast path writes it itself), or None."""
        if not _SERVED_NAME.match(name):
            return None
        origin = await self._origin(slug)
        if origin is None:
            return None
        kind = kind_of(name)
        pulled, source = await self._get(self._url(origin, slug, name, query), kind)
        SERVED.labels(kind, source).inc()
        return pulled

    def pull_now(self, slug: str, name: str, query: Mapping[str, str]) -> Pulled | asyncio.Task[Pulled] | None:
        """:meth:`pull` without waiting, when the room's origin is known (else None: then ask
        :meth:`pull`): the cached answer, or the fetch in flight for it (started now if none),
        whose result is the answer; counted as :meth:`pull` counts (a fetch when it ends)."""
        loop = asyncio.get_running_loop()
        known = self._origins.get(slug)
        if known is None or known[1] is None or known[0] <= loop.time() or not _SERVED_NAME.match(name):
            return None
        kind = kind_of(name)
        found, source = self._find(self._url(known[1], slug, name, query), kind)
        counter = SERVED.labels(kind, source)
        if isinstance(found, Pulled):
            counter.inc()
        else:
            found.add_done_callback(lambda done: None if done.cancelled() or done.exception() else counter.inc())
        return found

    @staticmethod
    def _url(origin: str, slug: str, name: str, query: Mapping[str, str]) -> str:
        kept = [(key, query[key]) for key in QUERY_KEYS if key in query]
        return f"{origin}/live/{slug}/{name}" + (f"?{urlencode(kept)}" if kept else "")

    async def close(self) -> None:
        for task in [*self._inflight.values(), *self._locating.values()]:
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _origin(self, slug: str) -> str | None:
        loop = asyncio.get_running_loop()
        known = self._origins.get(slug)
        if known is not None and known[0] > loop.time():
            return known[1]
        task = self._locating.get(slug)
        if task is None:
            task = loop.create_task(self._lookup(slug), name=f"hls edge locate {slug}")
            self._locating[slug] = task
        return await asyncio.shield(task)

    async def _lookup(self, slug: str) -> str | None:
        try:
            origin = await self._locate(slug)
        finally:
            self._locating.pop(slug, None)
        if len(self._origins) > 10_000:
            self._origins.clear()
        self._origins[slug] = (asyncio.get_running_loop().time() + LOCATE_TTL_S, origin)
        return origin

    async def _get(self, url: str, kind: str) -> tuple[Pulled, str]:
        found, source = self._find(url, kind)
        return found if isinstance(found, Pulled) else await asyncio.shield(found), source

    def _find(self, url: str, kind: str) -> tuple[Pulled | asyncio.Task[Pulled], str]:
        """The cached answer, else the fetch in flight (started if none), and its source."""
        loop = asyncio.get_running_loop()
        cached = self._cache.get(url)
        if cached is not None:
            if cached[0] > loop.time():
                self._cache.move_to_end(url)
                return cached[1], "cache"
            self._evict(url)
        task = self._inflight.get(url)
        if task is not None:
            return task, "shared"
        task = loop.create_task(self._pull(url, kind), name=f"hls edge {url}")
        self._inflight[url] = task
        return task, "origin"

    async def _pull(self, url: str, kind: str) -> Pulled:
        try:
            pulled = await self._fetch(url)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("origin fetch %s failed: %s", url, error)
            pulled = Pulled(502, "application/json", (("Cache-Control", "no-store"),),
                            b'{"error": "origin unreachable"}')
        finally:
            self._inflight.pop(url, None)
        UPSTREAM.labels(kind, str(pulled.status)).inc()
        self._keep(url, pulled)
        return pulled

    async def _fetch(self, url: str) -> Pulled:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False,
                                                  headers={"User-Agent": EDGE_AGENT})
        async with self._session.get(url) as answer:
            body = await answer.read()
            headers = tuple((key, answer.headers[key]) for key in PASSED_HEADERS if key in answer.headers)
            return Pulled(answer.status, answer.content_type, headers, body)

    def _keep(self, url: str, pulled: Pulled) -> None:
        age = pulled.max_age()
        if age <= 0 or len(pulled.body) > self._max_bytes // 4:
            return
        self._evict(url)
        self._cache[url] = (asyncio.get_running_loop().time() + age, pulled)
        self._cached_bytes += len(pulled.body)
        while self._cached_bytes > self._max_bytes:
            self._evict(next(iter(self._cache)))

    def _evict(self, url: str) -> None:
        entry = self._cache.pop(url, None)
        if entry is not None:
            self._cached_bytes -= len(entry[1].body)
