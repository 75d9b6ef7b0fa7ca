"""RTMP ingest into the hub: an :class:`IngestHandler` for :class:`media.rtmp.server.RtmpServer`.

Translation only (DESIGN.md: protocol conversion apart from the servers that speak it):
RTMP sequence headers become hub tracks (video track 1, audio track 2), RTMP media becomes
:class:`Unit` on the 90 kHz clock (32-bit RTMP milliseconds are unwrapped first), and the
end of an RTMP publish becomes :meth:`Hub.end_publish` (so a reconnect within the grace
period continues the same stream).

Who may publish: ``resolve_key(stream_key)`` names the room (or None: refused with
``NetStream.Publish.BadName`` and counted as a failure). A room that already has a publisher
is taken over only when that publisher has been silent for ``takeover_after`` seconds (the
same key reconnecting after its old TCP connection died unnoticed); otherwise the new
publisher is refused with "already publishing" and it is not counted as a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from media.errors import AlreadyPublishing, CodecConfigError
from media.hub import Hub, Stream, StreamState
from media.rtmp.server import PublishSession, Refusal
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig
from media.units import Track, TrackKind, Unit

log = logging.getLogger(__name__)

VIDEO_TRACK, AUDIO_TRACK = 1, 2
_TICKS_PER_MS = 90
_WRAP = 1 << 32

ResolveKey = Callable[[str], Awaitable[str | None]]
ClaimRoom = Callable[[str], Awaitable[bool]]
"""Whether this process may hold the room's ingest (False: another node of the cluster
holds it, and the publisher is refused as "already publishing")."""


async def claim_anywhere(slug: str) -> bool:
    """The :data:`ClaimRoom` of a server that is alone."""
    return True
SOURCE_PREFIX = "rtmp:"


def rtmp_peer(source: str) -> str | None:
    """The ``host:port`` of an RTMP publisher from its hub ``source``, else None (not RTMP)."""
    return source[len(SOURCE_PREFIX):] if source.startswith(SOURCE_PREFIX) else None


class _Clock:
    """Unwrap 32-bit RTMP milliseconds into a monotonic 64-bit count."""

    def __init__(self) -> None:
        self._epoch = 0
        self._last: int | None = None

    def ticks(self, ms: int) -> int:
        raw = ms % _WRAP
        if self._last is not None and raw < self._last - _WRAP // 2:
            self._epoch += _WRAP
        self._last = raw
        return (self._epoch + raw) * _TICKS_PER_MS


class RtmpToHub:
    """One accepted RTMP publish, writing into its room's :class:`Stream`."""

    def __init__(self, hub: Hub, stream: Stream, source: str) -> None:
        self._hub = hub
        self.stream = stream
        self.source = source
        self.replaced = False
        self._clock = _Clock()
        self._has = {VIDEO_TRACK: False, AUDIO_TRACK: False}

    def mark_replaced(self) -> None:
        self.replaced = True

    def on_metadata(self, metadata: Metadata) -> None:
        pass

    def on_video_config(self, config: VideoConfig) -> None:
        if config.codec != "h264":
            log.warning(
                "%s: %s video is not supported yet; video ignored", self.source, config.codec
            )
            return
        self._set_track(lambda: Track.h264(VIDEO_TRACK, config.record))

    def on_audio_config(self, config: AudioConfig) -> None:
        self._set_track(lambda: Track.aac(AUDIO_TRACK, config.audio_specific_config))

    def _set_track(self, build: Callable[[], Track]) -> None:
        if self.replaced:
            return
        try:
            track = build()
        except CodecConfigError as error:
            log.warning("%s: bad codec configuration: %s", self.source, error)
            return
        self._has[track.id] = True
        self.stream.set_track(track)

    def on_video(self, unit: MediaUnit) -> None:
        self._write(VIDEO_TRACK, TrackKind.VIDEO, unit)

    def on_audio(self, unit: MediaUnit) -> None:
        self._write(AUDIO_TRACK, TrackKind.AUDIO, unit)

    def _write(self, track_id: int, kind: TrackKind, unit: MediaUnit) -> None:
        if self.replaced or not self._has[track_id]:
            return  # a stale session, or media before its sequence header
        dts = self._clock.ticks(unit.dts_ms)
        pts = dts + (unit.pts_ms - unit.dts_ms) * _TICKS_PER_MS
        keyframe = unit.keyframe or kind is TrackKind.AUDIO
        self.stream.write(Unit(track_id, kind, dts, pts, keyframe, unit.payload))

    def on_unpublish(self, reason: str) -> None:
        if self.replaced:
            return
        if reason == "server_closed":
            self._hub.stop(self.stream.slug)
        else:
            self._hub.end_publish(self.stream.slug, self.source)


_ALREADY = Refusal(
    "already_publishing",
    "NetStream.Publish.BadName",
    "This room already has a live publisher.",
    counts_as_failure=False,
)


class HubIngest:
    """The :class:`IngestHandler` the RTMP server calls for each publish request."""

    def __init__(
        self,
        hub: Hub,
        resolve_key: ResolveKey,
        *,
        app_name: str = "live",
        takeover_after: float = 2.0,
        claim: ClaimRoom = claim_anywhere,
    ) -> None:
        self._hub = hub
        self._resolve_key = resolve_key
        self._claim = claim
        self._app_name = app_name
        self._takeover_after = takeover_after

    async def authorize(self, app: str, stream_key: str, peer: str) -> PublishSession | Refusal:
        if app != self._app_name:
            return Refusal("bad_app", "NetStream.Publish.BadName", f"Unknown application {app!r}.")
        slug = await self._resolve_key(stream_key)
        if slug is None:
            return Refusal()
        if not await self._claim(slug):
            return _ALREADY
        current = self._hub.get(slug)
        replace = (
            current is not None
            and current.state is StreamState.LIVE
            and time.monotonic() - current.last_write_at >= self._takeover_after
        )
        source = f"{SOURCE_PREFIX}{peer}"
        holder: list[RtmpToHub] = []
        try:
            stream = self._hub.start_publish(
                slug, source, replace=replace, on_replaced=lambda: holder[0].mark_replaced()
            )
        except AlreadyPublishing:
            return _ALREADY
        holder.append(RtmpToHub(self._hub, stream, source))
        return holder[0]
