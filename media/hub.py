"""The stream hub: one :class:`Stream` per live room, fanned out to bounded readers.

Rules:

* One owner per stream. Publishers call :meth:`Stream.write` synchronously; it appends the
  unit to the GOP cache and to every reader's buffer and returns. It never awaits, so a slow
  reader cannot slow the publisher (see :mod:`media.reader` for what a slow reader loses).
* One publisher per room. :meth:`Hub.publish` returns a :class:`Publication`, the publisher's
  handle (write, set a track, end). It owns the takeover rule, once for every protocol: a room
  whose publisher wrote in the last ``takeover_after`` seconds refuses a second one with
  :class:`AlreadyPublishing`; a publisher silent that long (the same key reconnecting before
  its old session noticed it was dead) is replaced, and its handle turns ``replaced`` and
  ignores what it is still given. (:meth:`Hub.start_publish` is the step below, which tests
  and benchmarks drive directly: ``replace=True`` takes over whatever the state.)
* Time comes from the hub's ``clock`` (``time.monotonic`` unless a test injects its own).
* Derived tracks (Opus for WebRTC viewers of an AAC publisher) live in the same stream but
  apart from the publisher's tracks: :attr:`Stream.header` and :meth:`Stream.state_dict`
  never show them, and only readers that ask (``add_reader(kind, derived=Codec.OPUS)``) get
  their units, written with :meth:`Stream.write_derived` (no GOP cache, no figures). Such a
  reader may resume on any unit after an overflow. A publisher that makes the codec itself
  says so when it publishes (``derived=``); otherwise the hub runs the bridge registered for
  it (:meth:`Hub.add_bridge`, a reader of the stream that writes the derived track) while at
  least one reader asks for the codec: it starts with the first, stops with the last or with
  the stream, and carries on across publisher sessions.
* A publisher that goes away (``end_publish``) leaves the stream ``reconnecting`` for
  ``reconnect_grace`` seconds. A new publisher in that time continues the same Stream: readers
  stay attached and get a :class:`StreamHeader` with the next session number (HLS turns it
  into EXT-X-DISCONTINUITY). When the grace runs out the stream goes ``offline``, its readers
  end and the hub forgets it.

The stream states and the events that move them are the table :data:`TRANSITIONS`; anything
else raises :class:`IllegalTransition`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from media import metrics
from media.errors import AlreadyPublishing, IllegalTransition, UsageError
from media.reader import DEFAULT_MAX_BYTES, DEFAULT_MAX_UNITS, Reader
from media.stats import StreamStats
from media.units import CLOCK_RATE, Codec, StreamHeader, Track, TrackKind, Unit

log = logging.getLogger(__name__)

GOP_MAX_UNITS = 4096
GOP_MAX_BYTES = 64 * 1024 * 1024


class StreamState(enum.StrEnum):
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


class StreamEvent(enum.Enum):
    REPLACE = "replace"  # the same key published again while live
    DISCONNECT = "disconnect"  # the publisher went away
    PUBLISH = "publish"  # a publisher came back in the grace period
    EXPIRE = "expire"  # the grace period ran out
    STOP = "stop"  # ended on purpose (room closed, publisher kicked)


TRANSITIONS: dict[tuple[StreamState, StreamEvent], StreamState] = {
    (StreamState.LIVE, StreamEvent.REPLACE): StreamState.LIVE,
    (StreamState.LIVE, StreamEvent.DISCONNECT): StreamState.RECONNECTING,
    (StreamState.LIVE, StreamEvent.STOP): StreamState.OFFLINE,
    (StreamState.RECONNECTING, StreamEvent.PUBLISH): StreamState.LIVE,
    (StreamState.RECONNECTING, StreamEvent.EXPIRE): StreamState.OFFLINE,
    (StreamState.RECONNECTING, StreamEvent.STOP): StreamState.OFFLINE,
}

StateListener = Callable[["Stream"], None]
Clock = Callable[[], float]


class Bridge(Protocol):
    """Makes a derived track of one stream (see the module docstring) until stopped."""

    def stop(self) -> None: ...


BridgeFactory = Callable[["Stream"], Bridge]
"""``factory(stream)``: start a bridge that reads ``stream`` and writes its derived track."""


def _any_unit(_unit: Unit) -> bool:
    return True


class Stream:
    """The live media of one room. Created by :meth:`Hub.start_publish`, never directly."""

    def __init__(
        self, hub: Hub, slug: str, source: str, tracks: Iterable[Track], derived: Iterable[Codec] = ()
    ) -> None:
        self.slug = slug
        self.source = source
        self.state = StreamState.LIVE
        self.session = 1
        self.started_at = time.time()
        self._hub = hub
        self._tracks: dict[int, Track] = {}
        self._set_tracks(tracks)
        self._readers: list[Reader] = []
        self._unit_readers: dict[TrackKind, list[Reader]] = {kind: [] for kind in TrackKind}
        """The readers of each kind's units: every reader but those of another kind's only."""
        self._gop: list[Unit] = []
        self._gop_bytes = 0
        self._supplied = frozenset(derived)
        self._derived_readers: dict[Codec, list[Reader]] = {}
        self._bridges: dict[Codec, Bridge] = {}
        self._stats = StreamStats()
        self._announced_stats = False
        self.ignored_writes = 0
        self.last_write_at = hub.clock()
        """The hub clock's time of the last accepted write (or of the publish)."""

    # -- publisher side ----------------------------------------------------------------

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks.values())

    @property
    def header(self) -> StreamHeader:
        return StreamHeader(self.session, self.tracks)

    def set_track(self, track: Track) -> None:
        """Add a track or replace its configuration (e.g. the AVC sequence header arrived or
        changed). Readers get a new :class:`StreamHeader` with the same session number."""
        if self._tracks.get(track.id) == track:
            return
        had_video = self._has_video()
        self._tracks[track.id] = track
        if self._has_video() and not had_video:
            self._clear_gop()
        self._broadcast_header()
        self._hub._notify(self)

    def write(self, unit: Unit) -> None:
        """Hand one unit to every reader. Synchronous; never waits for anyone.

        Writes to a stream that is not live (a stale publisher after a replace or an end)
        are ignored and counted in :attr:`ignored_writes`.
        """
        if self.state is not StreamState.LIVE:
            self.ignored_writes += 1
            return
        track = self._tracks.get(unit.track_id)
        if track is None or track.kind is not unit.kind:
            raise UsageError(f"stream {self.slug!r} has no {unit.kind} track {unit.track_id}")
        metrics.UNITS.labels(unit.kind.value).inc()
        self.last_write_at = self._hub.clock()
        self._stats.add(unit)
        self._cache(unit)
        for reader in self._unit_readers[unit.kind]:
            reader.offer(unit)
        if not self._announced_stats and self._stats.ready:
            self._announced_stats = True
            self._hub._notify(self)

    def write_derived(self, codec: Codec, unit: Unit) -> None:
        """Hand one unit of the derived ``codec`` track to the readers that asked for it
        (see the module docstring). Synchronous; ignored when the stream is not live."""
        if self.state is not StreamState.LIVE:
            self.ignored_writes += 1
            return
        for reader in self._derived_readers.get(codec, ()):
            reader.offer(unit)

    def silent_for(self) -> float:
        """Seconds since the last accepted write (or the publish), on the hub's clock."""
        return self._hub.clock() - self.last_write_at

    def is_resume_point(self, unit: Unit) -> bool:
        """True for a unit a reader may start from: a keyframe of the key track."""
        if self._has_video():
            return unit.kind is TrackKind.VIDEO and unit.keyframe
        return unit.keyframe

    # -- readers -----------------------------------------------------------------------

    def add_reader(
        self,
        kind: str,
        *,
        derived: Codec | None = None,
        only: TrackKind | None = None,
        max_units: int = DEFAULT_MAX_UNITS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Reader:
        """Attach a reader. It first gets the current :class:`StreamHeader`, then the GOP cache
        (units since the last keyframe, so it can start decoding at once), then live units.

        With ``only``, the reader gets the units of that kind's tracks and no others (a WHEP
        viewer's video: the publisher's AAC would only be read and dropped, per viewer, about
        47 times a second), and every header. With ``derived``, the reader gets only the units
        of that derived track, from now on (no header, no cache), and the stream's bridge for it
        runs while it is attached."""
        if self.state is StreamState.OFFLINE:
            raise UsageError(f"stream {self.slug!r} is offline")
        if derived is not None:
            return self._add_derived_reader(kind, derived, max_units, max_bytes)
        reader = Reader(
            kind, self.is_resume_point, self._detach, max_units=max_units, max_bytes=max_bytes
        )
        reader.offer(self.header)
        for unit in self._gop:
            if only is None or unit.kind is only:
                reader.offer(unit)
        self._readers.append(reader)
        for unit_kind, readers in self._unit_readers.items():
            if only is None or unit_kind is only:
                readers.append(reader)
        metrics.READERS.labels(kind).inc()
        return reader

    def keyframe(self) -> tuple[Track, Unit] | None:
        """The video track and its latest keyframe (the GOP cache's first unit), or None
        without video or before the first keyframe: what a still frame is decoded from."""
        video = self._first(TrackKind.VIDEO)
        if video is None or not self._gop or not self._gop[0].keyframe:
            return None
        return video, self._gop[0]

    @property
    def readers(self) -> tuple[Reader, ...]:
        return tuple(self._readers)

    def _detach(self, reader: Reader) -> None:
        if reader in self._readers:
            self._readers.remove(reader)
            for readers in self._unit_readers.values():
                if reader in readers:
                    readers.remove(reader)
            metrics.READERS.labels(reader.kind).dec()

    def _add_derived_reader(self, kind: str, codec: Codec, max_units: int, max_bytes: int) -> Reader:
        def detach(reader: Reader) -> None:
            readers = self._derived_readers.get(codec, [])
            if reader in readers:
                readers.remove(reader)
                metrics.READERS.labels(reader.kind).dec()
                self._update_bridge(codec)

        reader = Reader(kind, _any_unit, detach, max_units=max_units, max_bytes=max_bytes)
        self._derived_readers.setdefault(codec, []).append(reader)
        metrics.READERS.labels(kind).inc()
        self._update_bridge(codec)
        return reader

    def _update_bridge(self, codec: Codec) -> None:
        """Run the hub's bridge for ``codec`` exactly while a reader asks for the codec, the
        publisher does not supply it and the stream is not offline."""
        wanted = (
            bool(self._derived_readers.get(codec))
            and codec not in self._supplied
            and self.state is not StreamState.OFFLINE
        )
        bridge = self._bridges.get(codec)
        if wanted and bridge is None:
            factory = self._hub._bridges.get(codec)
            if factory is not None:
                self._bridges[codec] = factory(self)
        elif not wanted and bridge is not None:
            del self._bridges[codec]
            bridge.stop()

    # -- state -------------------------------------------------------------------------

    def _transition(self, event: StreamEvent) -> None:
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransition(f"stream {self.slug!r}: {event.value} while {self.state}")
        metrics.LIVE_STREAMS.labels(self.state.value).dec()
        metrics.LIVE_STREAMS.labels(target.value).inc()
        self.state = target

    def _new_session(self, source: str, tracks: Iterable[Track], derived: Iterable[Codec]) -> None:
        self.session += 1
        self.last_write_at = self._hub.clock()
        self.source = source
        self._tracks = {}
        self._set_tracks(tracks)
        self._clear_gop()
        self._stats = StreamStats()
        self._announced_stats = False
        self._broadcast_header()
        self._supplied = frozenset(derived)
        for codec in {*self._derived_readers, *self._bridges}:
            self._update_bridge(codec)

    def _end_readers(self) -> None:
        derived = [reader for readers in self._derived_readers.values() for reader in readers]
        for reader in [*self._readers, *derived]:
            reader.end()
            metrics.READERS.labels(reader.kind).dec()
        self._readers = []
        self._unit_readers = {kind: [] for kind in TrackKind}
        self._derived_readers = {}
        for codec in list(self._bridges):
            self._update_bridge(codec)
        self._clear_gop()

    def state_dict(self) -> dict[str, Any]:
        """What ``stream.state`` events and ``GET /api/rooms/{slug}/stream`` report."""
        video = self._first(TrackKind.VIDEO)
        audio = self._first(TrackKind.AUDIO)
        interval = self._stats.keyframe_interval
        return {
            "slug": self.slug,
            "state": self.state.value,
            "session": self.session,
            "started_at": self.started_at,
            "video_codec": video.codec.value if video else None,
            "audio_codec": audio.codec.value if audio else None,
            "codecs": [track.codec_string for track in self._tracks.values()],
            "width": video.width if video else None,
            "height": video.height if video else None,
            "resolution": f"{video.width}x{video.height}" if video else None,
            "fps": self._stats.fps,
            "bitrate": self._stats.bitrate,
            "keyframe_interval": round(interval / CLOCK_RATE, 3) if interval else None,
            "audio_sample_rate": audio.sample_rate if audio else None,
            "audio_channels": audio.channels if audio else None,
            "readers": len(self._readers),
        }

    # -- internals ---------------------------------------------------------------------

    def _set_tracks(self, tracks: Iterable[Track]) -> None:
        for track in tracks:
            if track.id in self._tracks:
                raise UsageError(f"duplicate track id {track.id}")
            self._tracks[track.id] = track

    def _first(self, kind: TrackKind) -> Track | None:
        return next((t for t in self._tracks.values() if t.kind is kind), None)

    def _has_video(self) -> bool:
        return self._first(TrackKind.VIDEO) is not None

    def _broadcast_header(self) -> None:
        header = self.header
        for reader in self._readers:
            reader.offer(header)

    def _cache(self, unit: Unit) -> None:
        if self.is_resume_point(unit):
            self._clear_gop()
        elif not self._gop:
            return  # no keyframe yet: nothing a new reader could decode from
        if len(self._gop) >= GOP_MAX_UNITS or self._gop_bytes + len(unit.payload) > GOP_MAX_BYTES:
            self._clear_gop()  # an absurdly long GOP: new readers wait for the next keyframe
            return
        self._gop.append(unit)
        self._gop_bytes += len(unit.payload)

    def _clear_gop(self) -> None:
        self._gop = []
        self._gop_bytes = 0


class Publication:
    """One publisher's hold on its room's :class:`Stream`, from :meth:`Hub.publish`.

    Writes and tracks go to the stream until the publisher ends (:meth:`end`: the stream
    waits ``reconnect_grace`` for it to come back; :meth:`stop`: offline now) or another
    publisher takes over; from then on it is ``replaced`` and ignores what it is given
    (counted in the stream's ``ignored_writes``), and its end ends nothing; the same holds once
    it has ended (:attr:`live`).
    """

    def __init__(self, hub: Hub, stream: Stream, source: str, on_replaced: Callable[[], None] | None) -> None:
        self.stream = stream
        self.source = source
        self.replaced = False
        self._hub = hub
        self._on_replaced = on_replaced

    @property
    def slug(self) -> str:
        return self.stream.slug

    @property
    def live(self) -> bool:
        """This is the stream's live publisher now: not replaced, not ended, and the stream
        was not resumed by another publisher after this one ended."""
        stream = self.stream
        return not self.replaced and stream.state is StreamState.LIVE and stream.source == self.source

    def write(self, unit: Unit) -> None:
        if not self.live:
            self.stream.ignored_writes += 1
            return
        self.stream.write(unit)

    def set_track(self, track: Track) -> None:
        if self.live:
            self.stream.set_track(track)

    def write_derived(self, codec: Codec, unit: Unit) -> None:
        """A unit of a derived track this publisher supplies (it said so in ``derived=``)."""
        if not self.live:
            self.stream.ignored_writes += 1
            return
        self.stream.write_derived(codec, unit)

    def end(self) -> None:
        """The publisher went away; it may come back within the grace period."""
        if self.live:
            self._hub.end_publish(self.stream.slug, self.source)

    def stop(self) -> None:
        """The stream ends now (the server is closing, or the performer ended the show)."""
        if self.live:
            self._hub.stop(self.stream.slug)

    def _replace(self) -> None:
        self.replaced = True
        if self._on_replaced is not None:
            self._on_replaced()


class Hub:
    """All live streams of this process, keyed by room slug."""

    def __init__(self, *, reconnect_grace: float = 10.0, clock: Clock = time.monotonic) -> None:
        self.reconnect_grace = reconnect_grace
        self.clock = clock
        self._streams: dict[str, Stream] = {}
        self._listeners: list[StateListener] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._on_replaced: dict[str, Callable[[], None] | None] = {}
        self._bridges: dict[Codec, BridgeFactory] = {}

    def add_bridge(self, codec: Codec, factory: BridgeFactory) -> None:
        """Make ``codec`` with ``factory`` for readers of streams whose publisher does not
        supply it (see the module docstring)."""
        self._bridges[codec] = factory

    def may_take_over(self, slug: str, takeover_after: float | None) -> bool:
        """Whether a new publisher of ``slug`` replaces a live one (True) or finds the room
        free (False); raises :class:`AlreadyPublishing` when a live publisher wrote in the last
        ``takeover_after`` seconds (None: a live publisher is never replaced)."""
        stream = self._streams.get(slug)
        if stream is None or stream.state is not StreamState.LIVE:
            return False
        if takeover_after is not None and stream.silent_for() >= takeover_after:
            return True
        raise AlreadyPublishing(slug, stream.source)

    def publish(
        self,
        slug: str,
        source: str,
        tracks: Iterable[Track] = (),
        *,
        takeover_after: float | None = None,
        on_replaced: Callable[[], None] | None = None,
        derived: Iterable[Codec] = (),
    ) -> Publication:
        """Begin (or resume) publishing to ``slug`` under the takeover rule (see the module
        docstring); ``on_replaced`` is called when a later publisher takes over, ``derived``
        names the derived tracks the publisher writes itself (no bridge runs for them)."""
        replace = self.may_take_over(slug, takeover_after)
        stream = self.start_publish(slug, source, tracks, replace=replace, derived=derived)
        publication = Publication(self, stream, source, on_replaced)
        self._on_replaced[slug] = publication._replace
        return publication

    def start_publish(
        self,
        slug: str,
        source: str,
        tracks: Iterable[Track] = (),
        *,
        replace: bool = False,
        on_replaced: Callable[[], None] | None = None,
        derived: Iterable[Codec] = (),
    ) -> Stream:
        """Begin (or resume) publishing to ``slug``; see the module docstring for the rules.

        ``source`` names the publisher for logs and for :meth:`end_publish` (e.g.
        ``"rtmp:203.0.113.5:50123"``). Tracks may be given now or later with
        :meth:`Stream.set_track`.
        """
        stream = self._streams.get(slug)
        if stream is None:
            stream = Stream(self, slug, source, tracks, derived)
            self._streams[slug] = stream
            metrics.LIVE_STREAMS.labels(StreamState.LIVE.value).inc()
        elif stream.state is StreamState.LIVE:
            if not replace:
                raise AlreadyPublishing(slug, stream.source)
            self._tell_replaced(slug)
            stream._transition(StreamEvent.REPLACE)
            stream._new_session(source, tracks, derived)
        else:
            self._cancel_timer(slug)
            stream._transition(StreamEvent.PUBLISH)
            stream._new_session(source, tracks, derived)
        self._on_replaced[slug] = on_replaced
        log.info("publish %s from %s (session %d)", slug, source, stream.session)
        self._notify(stream)
        return stream

    def end_publish(self, slug: str, source: str | None = None) -> None:
        """The publisher went away: keep the stream ``reconnecting`` for the grace period.

        With ``source``, only that publisher's end counts (a replaced publisher closing late
        does not end its successor's session). Unknown or not-live streams are ignored.
        """
        stream = self._streams.get(slug)
        if stream is None or stream.state is not StreamState.LIVE:
            return
        if source is not None and source != stream.source:
            return
        self._on_replaced.pop(slug, None)
        if self.reconnect_grace <= 0:
            self.stop(slug)
            return
        stream._transition(StreamEvent.DISCONNECT)
        loop = asyncio.get_running_loop()
        self._timers[slug] = loop.call_later(self.reconnect_grace, self._expire, stream)
        self._notify(stream)

    def stop(self, slug: str) -> None:
        """End the stream now (no grace): readers end, the stream goes offline."""
        stream = self._streams.get(slug)
        if stream is None:
            return
        if stream.state is StreamState.LIVE:
            self._tell_replaced(slug)
        self._cancel_timer(slug)
        stream._transition(StreamEvent.STOP)
        self._forget(stream)

    def get(self, slug: str) -> Stream | None:
        """The stream of ``slug`` while it is live or reconnecting, else None."""
        return self._streams.get(slug)

    def add_reader(self, slug: str, kind: str, *, derived: Codec | None = None, only: TrackKind | None = None,
                   **limits: int) -> Reader:
        stream = self._streams.get(slug)
        if stream is None:
            raise UsageError(f"room {slug!r} has no stream")
        return stream.add_reader(kind, derived=derived, only=only, **limits)

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(stream)`` on every state change and when the stream's codecs or
        first figures (fps, bitrate) become known; returns a function that unsubscribes.
        Listeners run synchronously inside the hub call and must not raise (errors are
        logged and swallowed)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams.values()))

    def close(self) -> None:
        """Stop every stream (process shutdown)."""
        for slug in list(self._streams):
            self.stop(slug)

    # -- internals ---------------------------------------------------------------------

    def _expire(self, stream: Stream) -> None:
        self._timers.pop(stream.slug, None)
        if self._streams.get(stream.slug) is stream and stream.state is StreamState.RECONNECTING:
            stream._transition(StreamEvent.EXPIRE)
            self._forget(stream)

    def _forget(self, stream: Stream) -> None:
        self._streams.pop(stream.slug, None)
        self._on_replaced.pop(stream.slug, None)
        metrics.LIVE_STREAMS.labels(StreamState.OFFLINE.value).dec()
        stream._end_readers()
        log.info("stream %s offline", stream.slug)
        self._notify(stream)

    def _cancel_timer(self, slug: str) -> None:
        timer = self._timers.pop(slug, None)
        if timer is not None:
            timer.cancel()

    def _tell_replaced(self, slug: str) -> None:
        callback = self._on_replaced.pop(slug, None)
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("on_replaced callback of %s failed", slug)

    def _notify(self, stream: Stream) -> None:
        for listener in list(self._listeners):
            try:
                listener(stream)
            except Exception:
                log.exception("stream state listener failed for %s", stream.slug)
