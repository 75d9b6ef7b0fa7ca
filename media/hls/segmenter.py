"""Cut a stream's units into LL-HLS segments and parts of CMAF fMP4 (pure, no I/O).

Rules:

* One muxed rendition: the first H.264 video track and the first AAC or Opus audio track of
  the stream go into one fMP4 (two ``traf`` per fragment). The *key lane* is video when there
  is video, else audio; it drives every cut.
* A part is one ``moof``+``mdat``. A part is cut before the key-lane unit that would make it
  longer than ``part_target`` (so parts never exceed the advertised PART-TARGET); parts need
  not start on a keyframe and are INDEPENDENT=YES when they do.
* A segment is cut at the first keyframe at or after ~``segment_target`` seconds (0.9 of it,
  so a 1 s GOP with millisecond jitter still gives 1 s segments); with a longer GOP a segment
  is the GOP. A segment's bytes are its parts back to back.
* Timestamps are rebased so the first keyframe is 0 and a new publisher session continues
  where the previous ended: the media timeline stays monotonic for every player, and the
  first segment of the new session carries EXT-X-DISCONTINUITY and a new EXT-X-MAP. The new
  session starts late enough that its first picture is presented after every picture of
  the old one (a publisher cut off mid-GOP with B-frames leaves pictures whose presentation
  time is ahead of their decode time), leaving a gap of a frame or two at the discontinuity.
* Bounded: ``window`` complete segments are listed, ``keep_extra`` more are kept for clients
  holding an older playlist; everything older is dropped.

Durations of a sample are known when the next sample of its track arrives; so a part only
holds samples whose successor has arrived: the newest audio frame before a cut waits for the
next part. Each track's timeline is then gapless and never overlaps (the next ``tfdt`` is
exactly where the previous ``trun`` ended). Only when a session ends is the last sample
written with an estimated duration (the next session starts after a discontinuity anyway).

Startup: the playlist is published once ``startup_segments`` (3) segments are complete.
RFC 8216 section 6.3.3 has clients start no closer than three target durations from the end,
and Chromium's native HLS player depends on it: it queues at most the last three segments,
fetches them all before autoplay starts, and if its queue is empty by then it reloads the
playlist at once and fails with ``DEMUXER_ERROR_COULD_NOT_PARSE`` ("Segment queue never had
any data") when no newer segment is listed. A playlist of one or two segments makes that
likely when a viewer opens a stream that has just started.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from media.hls.fmp4 import Sample, TrackRun, fragment, init_segment, timescale
from media.hls.playlist import MediaPlaylist, PartEntry, SegmentEntry
from media.units import CLOCK_RATE, Codec, StreamHeader, Track, TrackKind, Unit

_MUXABLE = {TrackKind.VIDEO: (Codec.H264,), TrackKind.AUDIO: (Codec.AAC, Codec.OPUS)}


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    part_target: float = 0.21
    """Seconds; the longest a part may be (6 frames at 30 fps, 9 AAC frames at 44.1 kHz)."""
    segment_target: float = 1.0
    window: int = 8
    keep_extra: int = 4
    part_hold_back_factor: float = 3.0
    startup_segments: int = 3
    """Complete segments needed before the first playlist is published (see the module
    docstring, "Startup")."""


@dataclass(frozen=True, slots=True)
class Part:
    msn: int
    index: int
    duration: int
    """Ticks of :data:`CLOCK_RATE`."""
    independent: bool
    data: bytes = field(repr=False)

    def uri(self, prefix: str = "") -> str:
        return f"{prefix}part-{self.msn}-{self.index}.m4s"


@dataclass(slots=True)
class Segment:
    msn: int
    start: int
    init_id: int
    discontinuity: bool
    program_date_time: float
    parts: list[Part] = field(default_factory=list)
    duration: int = 0
    data: bytes | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        return self.data is not None

    def uri(self, prefix: str = "") -> str:
        return f"{prefix}seg-{self.msn}.m4s"


def init_uri(init_id: int, prefix: str = "") -> str:
    return f"{prefix}init-{init_id}.mp4"


@dataclass(slots=True)
class _Sample:
    dts: int
    composition_offset: int
    keyframe: bool
    payload: bytes
    duration: int = 0


class _Lane:
    """The samples of one muxed track waiting for the next part."""

    def __init__(self, track: Track, is_key: bool) -> None:
        self.track = track
        self.timescale = timescale(track)
        self.is_key = is_key
        self.ready: list[_Sample] = []
        self.last: _Sample | None = None
        self.last_duration = 0

    def add(self, sample: _Sample) -> bool:
        """Queue ``sample``; False (dropped) if its dts does not advance."""
        if self.last is not None:
            duration = sample.dts - self.last.dts
            if duration <= 0:
                return False
            self.last.duration = self.last_duration = duration
            self.ready.append(self.last)
        self.last = sample
        return True

    def take(self, cut: int, include_last: bool) -> list[_Sample]:
        count = 0
        while count < len(self.ready) and self.ready[count].dts < cut:
            count += 1
        taken, self.ready = self.ready[:count], self.ready[count:]
        if include_last and self.last is not None and self.last.dts < cut:
            self.last.duration = self.last_duration or _default_duration(self.track)
            taken.append(self.last)
            self.last = None
        return taken

    def run(self, samples: list[_Sample]) -> TrackRun:
        scale = self._scale
        entries = tuple(
            Sample(
                scale(s.dts + s.duration) - scale(s.dts),
                len(s.payload),
                s.keyframe,
                scale(s.dts + s.composition_offset) - scale(s.dts),
            )
            for s in samples
        )
        data = b"".join(s.payload for s in samples)
        return TrackRun(self.track.id, scale(samples[0].dts), entries, data)

    def _scale(self, ticks: int) -> int:
        return ticks * self.timescale // CLOCK_RATE


def _default_duration(track: Track) -> int:
    if track.codec is Codec.AAC and track.sample_rate:
        return 1024 * CLOCK_RATE // track.sample_rate
    return CLOCK_RATE // 50


class Segmenter:
    """Feed it the items of a hub reader with :meth:`push`; read the playlist and the bytes."""

    def __init__(self, config: SegmenterConfig | None = None, *, prefix: str = "") -> None:
        """``prefix`` starts every segment, part and init name, so that names of one stream
        instance never repeat in another (they are served as immutable)."""
        self.config = config or SegmenterConfig()
        self.prefix = prefix
        self._part_target = round(self.config.part_target * CLOCK_RATE)
        self._segment_min = round(0.9 * self.config.segment_target * CLOCK_RATE)
        self._lanes: dict[int, _Lane] = {}
        self._key_lane: _Lane | None = None
        self._tracks: tuple[Track, ...] = ()
        self._session: int | None = None
        self.segments: deque[Segment] = deque()
        self.inits: dict[int, bytes] = {}
        self._init_id = -1
        self._init_used = False
        self._started = False
        self._offset = 0
        self._end = 0
        self._part_start = 0
        self._session_start = 0
        self._presented_end = 0
        self._wall_base = (0.0, 0)
        self._sequence = 0
        self._evicted_discontinuities = 0
        self._discontinuity_next = False
        self.target_duration = 1
        self.version = 0
        """Bumped on every change to what the playlist lists (waiters compare it)."""
        self._text_cache: tuple[int, str | None] = (-1, None)

    def continue_at(self, ticks: int) -> None:
        """Begin the media timeline at ``ticks`` instead of 0 (a recording continued by a new
        segmenter stays monotonic). Only before the first unit."""
        if self._started or self.segments:
            raise ValueError("continue_at is only for a segmenter that has not started")
        self._end = ticks

    # -- input -----------------------------------------------------------------------------

    def push(self, item: Unit | StreamHeader, now: float) -> bool:
        """Take one reader item; ``now`` is the wall clock (epoch seconds) for
        EXT-X-PROGRAM-DATE-TIME. Returns True when a part or segment was published."""
        before = self.version
        if isinstance(item, StreamHeader):
            self._on_header(item)
        else:
            self._on_unit(item, now)
        return self.version != before

    def _on_header(self, header: StreamHeader) -> None:
        tracks = _muxed_tracks(header.tracks)
        if header.session == self._session and tracks == self._tracks:
            return
        if self._started:
            self._finish_segment()
            self._discontinuity_next = True
        self._session = header.session
        self._tracks = tracks
        self._lanes = {}
        self._key_lane = None
        for track in tracks:
            lane = _Lane(track, is_key=track is tracks[0])
            self._lanes[track.id] = lane
            self._key_lane = self._key_lane or lane
        if not tracks:
            return
        if self._init_used or self._init_id < 0:
            self._init_id += 1
            self._init_used = False
        self.inits[self._init_id] = init_segment(tracks)

    def _on_unit(self, unit: Unit, now: float) -> None:
        lane = self._lanes.get(unit.track_id)
        if lane is None:
            return
        if not self._started:
            if not (lane.is_key and (unit.keyframe or unit.kind is TrackKind.AUDIO)):
                return
            self._start(unit, now)
        keyframe = unit.keyframe or unit.kind is TrackKind.AUDIO
        sample = _Sample(unit.dts + self._offset, unit.pts - unit.dts, keyframe, unit.payload)
        if sample.dts < self._session_start:
            return
        self._presented_end = max(
            self._presented_end, sample.dts + sample.composition_offset + lane.last_duration
        )
        if lane.is_key and lane.last is not None and sample.dts > lane.last.dts:
            lane.add(sample)  # completes the previous sample first, so the cut can include it
            lane.last = None
            self._maybe_cut(sample)
            lane.last = sample
        else:
            lane.add(sample)

    def _start(self, unit: Unit, now: float) -> None:
        self._end = max(self._end, self._presented_end - (unit.pts - unit.dts))
        self._offset = self._end - unit.dts
        self._session_start = self._end
        self._started = True
        self._part_start = self._end
        self._wall_base = (now, self._end)
        self._open_segment(self._end)

    # -- cutting ---------------------------------------------------------------------------

    def _maybe_cut(self, sample: _Sample) -> None:
        current = self.segments[-1]
        key_lane = self._key_lane
        assert key_lane is not None
        cut = sample.dts
        if sample.keyframe and cut - current.start >= self._segment_min:
            self._flush_part(cut)
            self._close_segment(cut)
            self._open_segment(cut)
        elif cut - self._part_start + key_lane.last_duration > self._part_target:
            self._flush_part(cut)

    def _flush_part(self, cut: int, *, final: bool = False) -> None:
        """Write the samples before ``cut`` as one part; ``final`` (the session ends) also
        writes each lane's newest sample, whose duration is then estimated."""
        key_lane = self._key_lane
        if key_lane is None or not key_lane.ready or key_lane.ready[0].dts >= cut:
            return
        runs, independent = [], False
        for lane in self._lanes.values():
            samples = lane.take(cut, include_last=final and not lane.is_key)
            if samples:
                runs.append(lane.run(samples))
                independent = independent or (lane.is_key and samples[0].keyframe)
        self._sequence += 1
        segment = self.segments[-1]
        part = Part(
            segment.msn, len(segment.parts), cut - self._part_start, independent,
            fragment(self._sequence, runs),
        )  # fmt: skip
        segment.parts.append(part)
        self._part_start = self._end = cut
        self.version += 1

    def _finish_segment(self) -> None:
        """The session or the tracks changed: flush everything pending and close."""
        key_lane = self._key_lane
        if key_lane is not None and key_lane.last is not None:
            last = key_lane.last
            key_lane.last = None
            last.duration = key_lane.last_duration or _default_duration(key_lane.track)
            key_lane.ready.append(last)
            end = last.dts + last.duration
            self._flush_part(end, final=True)
        if self.segments and not self.segments[-1].complete:
            if self.segments[-1].parts:
                self._close_segment(self._end)
            else:
                self.segments.pop()
                self.version += 1
        self._started = False

    def _open_segment(self, start: int) -> None:
        msn = self.segments[-1].msn + 1 if self.segments else 0
        wall, base = self._wall_base
        segment = Segment(
            msn, start, self._init_id, self._discontinuity_next,
            wall + (start - base) / CLOCK_RATE,
        )  # fmt: skip
        self._discontinuity_next = False
        self._init_used = True
        self.segments.append(segment)
        self.version += 1

    def _close_segment(self, end: int) -> None:
        segment = self.segments[-1]
        segment.duration = end - segment.start
        segment.data = b"".join(part.data for part in segment.parts)
        self.target_duration = max(self.target_duration, round(segment.duration / CLOCK_RATE))
        self.version += 1
        complete = sum(1 for s in self.segments if s.complete)
        while complete > self.config.window + self.config.keep_extra:
            evicted = self.segments.popleft()
            complete -= 1
            self._evicted_discontinuities += evicted.discontinuity
        live_inits = {s.init_id for s in self.segments} | {self._init_id}
        for init_id in [i for i in self.inits if i not in live_inits]:
            del self.inits[init_id]

    # -- output ----------------------------------------------------------------------------

    @property
    def current(self) -> Segment | None:
        """The segment being written, if any."""
        if self.segments and not self.segments[-1].complete:
            return self.segments[-1]
        return None

    def _listed(self) -> list[Segment]:
        complete = [s for s in self.segments if s.complete]
        listed = complete[-self.config.window :]
        current = self.current
        return listed + ([current] if current is not None else [])

    def playlist(self) -> MediaPlaylist | None:
        """The media playlist, or None until ``startup_segments`` segments are complete."""
        if sum(s.complete for s in self.segments) < max(1, self.config.startup_segments):
            return None
        listed = self._listed()
        first = listed[0].msn
        hidden = sum(s.discontinuity for s in self.segments if s.msn < first)
        live_edge = listed[-1].start + listed[-1].duration
        parts_from = live_edge - 3 * self.target_duration * CLOCK_RATE
        entries, previous_init = [], None
        for segment in listed:
            show_parts = not segment.complete or segment.start + segment.duration > parts_from
            entries.append(self._entry(segment, show_parts, segment.init_id != previous_init))
            previous_init = segment.init_id
        current = self.current
        hint = None
        if current is not None:
            hint = f"{self.prefix}part-{current.msn}-{len(current.parts)}.m4s"
        return MediaPlaylist(
            target_duration=self.target_duration,
            part_target=self.config.part_target,
            media_sequence=first,
            discontinuity_sequence=self._evicted_discontinuities + hidden,
            segments=tuple(entries),
            preload_hint=hint,
            part_hold_back=round(self.config.part_hold_back_factor * self.config.part_target, 5),
        )

    def playlist_text(self) -> str | None:
        """:meth:`playlist` rendered, built once per :attr:`version`: every viewer waiting on
        a blocking reload asks for it when a part is published."""
        if self._text_cache[0] != self.version:
            playlist = self.playlist()
            self._text_cache = (self.version, None if playlist is None else playlist.render())
        return self._text_cache[1]

    def _entry(self, segment: Segment, show_parts: bool, new_map: bool) -> SegmentEntry:
        parts = tuple(
            PartEntry(p.uri(self.prefix), p.duration / CLOCK_RATE, p.independent)
            for p in segment.parts
        )
        return SegmentEntry(
            msn=segment.msn,
            uri=segment.uri(self.prefix),
            duration=segment.duration / CLOCK_RATE,
            parts=parts if show_parts else (),
            complete=segment.complete,
            discontinuity=segment.discontinuity,
            map_uri=init_uri(segment.init_id, self.prefix) if new_map else None,
            program_date_time=segment.program_date_time,
        )

    def segment(self, msn: int) -> Segment | None:
        """A complete segment by media sequence number."""
        for segment in self.segments:
            if segment.msn == msn and segment.complete:
                return segment
        return None

    def part(self, msn: int, index: int) -> Part | None:
        for segment in self.segments:
            if segment.msn == msn:
                return segment.parts[index] if 0 <= index < len(segment.parts) else None
        return None

    def latest_init(self) -> bytes | None:
        """The init segment of the current tracks."""
        return self.inits.get(self._init_id)

    def position(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest published part; None before the first part."""
        for segment in reversed(self.segments):
            if segment.parts:
                return segment.msn, len(segment.parts) - 1
        return None

    def last_msn(self) -> int | None:
        """Media sequence number of the newest segment (complete or being written)."""
        return self.segments[-1].msn if self.segments else None

    def has(self, msn: int, part: int | None) -> bool:
        """Whether a blocking playlist request for ``_HLS_msn``/``_HLS_part`` can be answered."""
        if part is None:
            return any(s.complete and s.msn >= msn for s in self.segments)
        position = self.position()
        return position is not None and position >= (msn, part)

    def part_settled(self, msn: int, index: int) -> bool:
        """True when part (msn, index) exists or never will (its segment closed without it)."""
        if self.part(msn, index) is not None:
            return True
        newest = self.last_msn()
        return newest is not None and (
            newest > msn or any(s.msn == msn and s.complete for s in self.segments)
        )


def _muxed_tracks(tracks: tuple[Track, ...]) -> tuple[Track, ...]:
    """The key track first: video if there is video, then audio."""
    video = next((t for t in tracks if t.codec in _MUXABLE[TrackKind.VIDEO]), None)
    audio = next((t for t in tracks if t.codec in _MUXABLE[TrackKind.AUDIO]), None)
    return tuple(t for t in (video, audio) if t is not None)
