"""An LL-HLS client that behaves like a low-latency player (hls.js in low-latency mode, AVPlayer).

* It loads the playlist once, starts at the newest independent part (the live edge a player
  can decode from), and fetches the init segment named by EXT-X-MAP.
* Then it loops: a blocking playlist reload for the part after the last one it has
  (``_HLS_msn=M&_HLS_part=P``, RFC 8216bis section 6.2.5.2), with the part named by
  EXT-X-PRELOAD-HINT requested at the same time (the server holds it until it is written),
  then every new part in order.

Parts are handed to ``on_part(init, data)``; the client keeps no media of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp


@dataclass(frozen=True)
class PartRef:
    msn: int
    index: int
    uri: str
    independent: bool
    map_uri: str | None


@dataclass
class Playlist:
    media_sequence: int = 0
    parts: list[PartRef] = field(default_factory=list)
    preload_hint: str | None = None
    discontinuities: int = 0


def _attribute(line: str, name: str) -> str | None:
    for item in line.split(":", 1)[1].split(","):
        key, _, value = item.partition("=")
        if key == name:
            return value.strip('"')
    return None


def parse_playlist(text: str) -> Playlist:
    """The parts of a media playlist with their (msn, index), in order."""
    playlist = Playlist()
    msn, index, map_uri = 0, 0, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = playlist.media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            map_uri = _attribute(line, "URI")
        elif line.startswith("#EXT-X-DISCONTINUITY") and ":" not in line:
            playlist.discontinuities += 1
        elif line.startswith("#EXT-X-PART:"):
            uri = _attribute(line, "URI") or ""
            independent = _attribute(line, "INDEPENDENT") == "YES"
            playlist.parts.append(PartRef(msn, index, uri, independent, map_uri))
            index += 1
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            playlist.preload_hint = _attribute(line, "URI")
        elif line and not line.startswith("#"):
            msn, index = msn + 1, 0
    return playlist


OnPart = Callable[[bytes, bytes], Awaitable[None] | None]


class LowLatencyPlayer:
    """Follow one LL-HLS media playlist from the live edge until :meth:`stop`."""

    def __init__(self, session: aiohttp.ClientSession, url: str, on_part: OnPart) -> None:
        self.session = session
        self.url = url
        self.on_part = on_part
        self.parts = 0
        self.reloads = 0
        self.errors = 0
        self._inits: dict[str, bytes] = {}
        self._hint: str | None = None
        self._prefetch: dict[str, asyncio.Future[bytes]] = {}
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    async def _get(self, url: str) -> bytes:
        async with self.session.get(url) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
            return body

    async def run(self) -> None:
        playlist = parse_playlist((await self._get(self.url)).decode())
        self._hint = playlist.preload_hint
        independent = [p for p in playlist.parts if p.independent]
        if not independent:
            raise RuntimeError("the playlist lists no independent part yet")
        last = independent[-1]
        await self._play(last)
        while not self._stopped:
            last = await self._follow(last)

    async def _follow(self, last: PartRef) -> PartRef:
        query = f"?_HLS_msn={last.msn}&_HLS_part={last.index + 1}"
        if self._hint is not None and self._hint not in self._prefetch:
            self._prefetch[self._hint] = asyncio.ensure_future(
                self._get(urljoin(self.url, self._hint)))
        try:
            playlist = parse_playlist((await self._get(self.url + query)).decode())
        except RuntimeError:
            self.errors += 1
            await asyncio.sleep(0.1)
            return last
        self.reloads += 1
        self._hint = playlist.preload_hint
        for part in playlist.parts:
            if (part.msn, part.index) > (last.msn, last.index):
                await self._play(part)
                last = part
        listed = {part.uri for part in playlist.parts} | {self._hint}
        for uri in [u for u in self._prefetch if u not in listed]:
            _discard(self._prefetch.pop(uri))  # a hint that never became a part
        return last

    async def _play(self, part: PartRef) -> None:
        if part.map_uri is None:
            raise RuntimeError("a part without EXT-X-MAP")
        init = self._inits.get(part.map_uri)
        if init is None:
            init = self._inits[part.map_uri] = await self._get(urljoin(self.url, part.map_uri))
        pending = self._prefetch.pop(part.uri, None)
        try:
            data = await pending if pending is not None else None
        except RuntimeError:
            data = None
        if data is None:
            data = await self._get(urljoin(self.url, part.uri))
        self.parts += 1
        result = self.on_part(init, data)
        if result is not None:
            await result


async def run_for(player: LowLatencyPlayer, seconds: float) -> None:
    """Run ``player`` for ``seconds``, then stop it (cancelling a pending blocking request)."""
    task = asyncio.ensure_future(player.run())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    player.stop()
    if task in done:
        task.result()
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for pending in player._prefetch.values():
        _discard(pending)


def _discard(future: asyncio.Future[bytes]) -> None:
    if future.done():
        if not future.cancelled():
            future.exception()  # retrieved: a 404 for a hint that never came is expected
    else:
        future.cancel()
