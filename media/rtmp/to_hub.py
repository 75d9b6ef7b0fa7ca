"""RTMP into the hub: :class:`HubIngest`, the :class:`media.rtmp.server.RtmpServer`'s handler.

Translation only (DESIGN.md: protocol conversion beside the protocol it converts; its reverse
is :mod:`media.rtmp.from_hub`). :class:`FlvToHub` is the conversion itself, Sans-I/O, one
event type in (RTMP's :data:`~media.rtmp.units.MediaEvent`) and one out (hub ``Track`` or
``Unit``): sequence headers become hub tracks (video track 1, audio track 2), media becomes
:class:`Unit` on the 90 kHz clock (32-bit RTMP milliseconds are unwrapped first). It is the
one FLV-to-hub conversion: the RTMP server's publishes and FLV files (tests, benchmarks) both
go through it. :class:`RtmpToHub` applies it through the publish's hub
:class:`~media.hub.Publication`; the end of an RTMP publish ends the publication (so a
reconnect within the grace period continues the same stream).

Who may publish: ``resolve_key(stream_key)`` names the room (or None: refused with
``NetStream.Publish.BadName`` and counted as a failure). The hub's takeover rule decides on a
room that already has a publisher (silent for ``takeover_after`` seconds: replaced, e.g. the
same key reconnecting after its old TCP connection died unnoticed); otherwise the new
publisher is refused with "already publishing" and it is not counted as a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from media.errors import AlreadyPublishing, CodecConfigError
from media.hub import Hub, Publication
from media.rtmp.server import PublishSession, Refusal
from media.rtmp.units import Ended, MediaEvent, MediaUnit, Metadata, PublishEvent, VideoConfig
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


class FlvToHub:
    """RTMP media events to hub tracks and units (see the module docstring).

    :meth:`convert` answers a ``Track`` for a supported sequence header, a ``Unit`` for media
    whose track has had its header, and None for the rest (HEVC for now, a bad codec
    configuration: both logged once per header; media before its header: dropped).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._clock = _Clock()
        self._has = {VIDEO_TRACK: False, AUDIO_TRACK: False}

    def convert(self, event: MediaEvent) -> Track | Unit | None:
        if isinstance(event, MediaUnit):
            return self._unit(event)
        if isinstance(event, VideoConfig):
            if event.codec != "h264":
                log.warning("%s: %s video is not supported yet; video ignored", self.source, event.codec)
                return None
            return self._track(lambda: Track.h264(VIDEO_TRACK, event.record))
        return self._track(lambda: Track.aac(AUDIO_TRACK, event.audio_specific_config))

    def _track(self, build: Callable[[], Track]) -> Track | None:
        try:
            track = build()
        except CodecConfigError as error:
            log.warning("%s: bad codec configuration: %s", self.source, error)
            return None
        self._has[track.id] = True
        return track

    def _unit(self, unit: MediaUnit) -> Unit | None:
        video = unit.track == "video"
        track_id = VIDEO_TRACK if video else AUDIO_TRACK
        if not self._has[track_id]:
            return None  # media before its sequence header
        dts = self._clock.ticks(unit.dts_ms)
        pts = dts + (unit.pts_ms - unit.dts_ms) * _TICKS_PER_MS
        kind = TrackKind.VIDEO if video else TrackKind.AUDIO
        return Unit(track_id, kind, dts, pts, unit.keyframe or not video, unit.payload)


class RtmpToHub:
    """One accepted RTMP publish (a :class:`~media.rtmp.server.PublishSession`), writing
    through its :class:`Publication` until it ends or another publisher replaces it."""

    def __init__(self, publication: Publication) -> None:
        self.publication = publication
        self._convert = FlvToHub(publication.source).convert

    def on_event(self, event: PublishEvent) -> None:
        publication = self.publication
        if publication.replaced or isinstance(event, Metadata):
            return  # a stale session; metadata says nothing the codec headers do not
        if isinstance(event, Ended):
            if event.reason == "server_closed":
                publication.stop()
            else:
                publication.end()
            return
        out = self._convert(event)
        if isinstance(out, Unit):
            publication.write(out)
        elif out is not None:
            publication.set_track(out)


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
        try:
            publication = self._hub.publish(slug, f"{SOURCE_PREFIX}{peer}", takeover_after=self._takeover_after)
        except AlreadyPublishing:
            return _ALREADY
        return RtmpToHub(publication)
