"""Opus for WebRTC viewers, produced once per stream and shared by all of them.

The hub carries what HLS and RTMP need (H.264 + AAC). WHEP viewers need Opus, so each live
room has one :class:`OpusFeed`: written straight by a WHIP publisher (its Opus packets, no
transcoding), or by an :class:`AacBridge` (AAC from the hub decoded and encoded to Opus once)
when the publisher sent AAC (RTMP). The bridge starts with the first viewer and stops with the
last. Viewers read the feed through :class:`media.reader.Reader` (bounded; a slow viewer drops
audio, never slows the publisher or another viewer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from media.errors import StreamEnded, UsageError
from media.hub import Hub
from media.reader import Reader
from media.transcode.audio import AacToOpus
from media.transcode.errors import TranscodeError
from media.units import Codec, StreamHeader, TrackKind, Unit

log = logging.getLogger(__name__)

OPUS_TRACK_ID = 1
READER_MAX_UNITS = 50  # one second of 20 ms frames
BATCH = 16
TRANSCODE_THREADS = 2
_TRANSCODE = ThreadPoolExecutor(TRANSCODE_THREADS, thread_name_prefix="opus-bridge")


def _always(_unit: Unit) -> bool:
    return True


class OpusFeed:
    """Opus packets of one room, fanned out to WHEP viewers; see the module docstring."""

    def __init__(self, slug: str, feeds: OpusFeeds) -> None:
        self.slug = slug
        self._feeds = feeds
        self._readers: list[Reader] = []
        self.direct_owner: object | None = None
        self.bridge: AacBridge | None = None

    def write(self, payload: bytes, pts: int) -> None:
        """Synchronous; never waits (each reader is bounded)."""
        unit = Unit(OPUS_TRACK_ID, TrackKind.AUDIO, pts, pts, True, payload)
        for reader in self._readers:
            reader.offer(unit)

    def add_reader(self) -> Reader:
        reader = Reader("whep-audio", _always, self._detach, max_units=READER_MAX_UNITS)
        self._readers.append(reader)
        if self.direct_owner is None and self.bridge is None:
            self.bridge = AacBridge(self._feeds.hub, self)
            self.bridge.start()
        return reader

    @property
    def readers(self) -> int:
        return len(self._readers)

    def end(self) -> None:
        for reader in list(self._readers):
            reader.end()
        self._stop_bridge()

    def _detach(self, reader: Reader) -> None:
        if reader in self._readers:
            self._readers.remove(reader)
        if not self._readers:
            self._stop_bridge()
            self._feeds._maybe_forget(self)

    def _stop_bridge(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None


class OpusFeeds:
    """Every room's :class:`OpusFeed`, created on demand."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._feeds: dict[str, OpusFeed] = {}

    def get(self, slug: str) -> OpusFeed:
        feed = self._feeds.get(slug)
        if feed is None:
            feed = self._feeds[slug] = OpusFeed(slug, self)
        return feed

    def claim(self, slug: str, owner: object) -> OpusFeed:
        """A WHIP publisher with Opus takes over the feed (a running bridge stops)."""
        feed = self.get(slug)
        feed.direct_owner = owner
        feed._stop_bridge()
        return feed

    def release(self, slug: str, owner: object) -> None:
        feed = self._feeds.get(slug)
        if feed is not None and feed.direct_owner is owner:
            feed.direct_owner = None
            self._maybe_forget(feed)

    def _maybe_forget(self, feed: OpusFeed) -> None:
        if not feed.readers and feed.direct_owner is None and self._feeds.get(feed.slug) is feed:
            del self._feeds[feed.slug]


def _transcode(bridge: AacToOpus, frames: list[tuple[bytes, int]]) -> tuple[list[tuple[bytes, int]], list[str]]:
    """Run in a transcode thread: feed ``frames`` in order; (Opus out, errors)."""
    out: list[tuple[bytes, int]] = []
    errors: list[str] = []
    for payload, pts in frames:
        try:
            out += bridge.feed(payload, pts)
        except TranscodeError as exc:
            errors.append(str(exc))
    return out, errors


class AacBridge:
    """Reads the hub's AAC track of a room and writes Opus into its feed (one per room).

    Decoding and encoding run in :data:`TRANSCODE_THREADS` threads shared by every room, not
    on the event loop: about half a millisecond of CPU per 21 ms AAC frame, and after the loop
    was busy a backlog of them, would otherwise hold it (a WHEP flood starts the bridge, and
    every chat message and health check waited behind it). One room's frames are fed to its
    bridge in order, one batch (what its reader holds, at most :data:`BATCH` frames) at a time;
    the Opus packets are written to the feed on the loop.
    """

    def __init__(self, hub: Hub, feed: OpusFeed) -> None:
        self._hub = hub
        self._feed = feed
        self._task: asyncio.Task[None] | None = None
        self._reader: Reader | None = None
        self.frames_in = 0

    def start(self) -> None:
        try:
            self._reader = self._hub.add_reader(self._feed.slug, "opus-bridge", max_units=256)
        except UsageError:
            return  # no stream yet: nothing to bridge
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        assert self._reader is not None
        loop = asyncio.get_running_loop()
        track_id: int | None = None
        bridge: AacToOpus | None = None
        ended = False
        with contextlib.suppress(StreamEnded):
            while not ended:
                items = [await self._reader.read()]
                try:
                    while len(items) < BATCH and (more := self._reader.read_nowait()) is not None:
                        items.append(more)
                except StreamEnded:
                    ended = True  # bridge what came before the end, then stop
                frames: list[tuple[bytes, int]] = []
                for item in items:
                    if isinstance(item, StreamHeader):
                        track = next((t for t in item.tracks if t.codec is Codec.AAC), None)
                        if track is not None and (track.id != track_id or bridge is None):
                            if frames and bridge is not None:  # the old track's frames first
                                await self._transcode(loop, bridge, frames)
                                frames = []
                            track_id, bridge = track.id, AacToOpus(track.config)
                    elif bridge is not None and item.track_id == track_id:
                        frames.append((item.payload, item.pts))
                if frames and bridge is not None:
                    await self._transcode(loop, bridge, frames)

    async def _transcode(self, loop: asyncio.AbstractEventLoop, bridge: AacToOpus,
                         frames: list[tuple[bytes, int]]) -> None:
        self.frames_in += len(frames)
        out, errors = await loop.run_in_executor(_TRANSCODE, _transcode, bridge, frames)
        for payload, pts in out:
            self._feed.write(payload, pts)
        for error in errors:
            log.warning("AAC->Opus bridge of %s: %s", self._feed.slug, error)
