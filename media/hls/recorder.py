"""Record a live stream to disk as it was streamed: fMP4 segments, init, an EVENT playlist.

Rules (DESIGN.md, "Media model"):

* The recorder is one more hub reader (kind ``"recorder"``) with a bounded buffer, feeding a
  :class:`Segmenter` of its own that cuts full segments only (no low-latency parts).
* Files are written in a worker thread, one completed segment at a time, while the reader
  keeps buffering. A disk so slow that the buffer overflows makes the hub skip the recorder to
  the next keyframe (:mod:`media.reader`); the recorder sees the reader's drop count grow,
  counts a gap (``nal_recording_gaps_total``, :attr:`RecorderStatus.gaps`) and starts the next
  segment with ``EXT-X-DISCONTINUITY``. The publisher and the other readers never wait.
* A publisher reconnect (a new hub session) is a discontinuity too, as in the live playlist.
* Crash safety: a segment is written under a temporary name and renamed, and the playlist is
  rewritten (temporary name, rename) only once its segment is in place, so the playlist on
  disk only ever lists whole files. A crash loses at most the segment being written;
  :func:`recover` closes such a recording (temporary files removed, ``ENDLIST``).
* A write error (disk full, read-only, gone) stops the recording: it is logged, counted in
  ``nal_recordings_failed_total{reason}``, the status says ``failed`` with the error, and the
  reader detaches. The live stream goes on untouched.
* When the stream goes offline the last segment is flushed and the playlist closed (VOD).

On disk, in the recording's directory: ``init-{n}.mp4``, ``seg-{n}.m4s``, ``index.m3u8`` and
``recording.json`` (:class:`RecorderStatus` plus what the caller adds, e.g. the show id).
A recording that already exists (a second stream of the same show) is continued after a
discontinuity, on the same timeline (its decode times go on from where the recording ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from media.errors import StreamEnded
from media.hls.segmenter import Segment, Segmenter, SegmenterConfig
from media.hls.vod import VodParseError, VodPlaylist, VodSegment, parse
from media.hub import Stream
from media.reader import ReaderItem
from media.units import CLOCK_RATE, StreamHeader, Track

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
META = "recording.json"
TEMP_SUFFIX = ".tmp"
READER_KIND = "recorder"

RECORDING_CONFIG = SegmenterConfig(
    part_target=24 * 3600.0,  # one fragment per segment: parts are for low latency only
    segment_target=4.0,
    window=1,
    keep_extra=2,
    startup_segments=1,
)

RECORDINGS = Gauge("nal_recordings_active", "Recordings being written by this process.")
SEGMENTS = Counter("nal_recording_segments_total", "Segments written to recordings.")
BYTES = Counter("nal_recording_bytes_total", "Bytes written to recordings (segments and inits).")
GAPS = Counter("nal_recording_gaps_total", "Times a recorder fell behind and skipped to a keyframe.")
FAILED = Counter("nal_recordings_failed_total", "Recordings stopped by a write error.", ["reason"])


@dataclass
class RecorderStatus:
    """What ``recording.json`` holds (and the studio shows)."""

    state: str = "recording"
    """``recording``, ``ended`` or ``failed``."""
    started_at: float = 0.0
    ended_at: float | None = None
    segments: int = 0
    duration: float = 0.0
    discontinuities: int = 0
    gaps: int = 0
    bytes: int = 0
    error: str | None = None
    recovered: bool = False
    """Closed by :func:`recover` after the process that wrote it died."""
    pid: int = field(default_factory=os.getpid)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RecordingFiles:
    """The files of one recording (blocking calls: run them in a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self) -> VodPlaylist:
        """Create the directory; the playlist already there (continued), else an empty one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_temporaries()
        playlist = self.read_playlist() or VodPlaylist()
        return replace(playlist, ended=False)  # a closed recording of the show goes on

    def read_playlist(self) -> VodPlaylist | None:
        try:
            return parse((self.directory / PLAYLIST).read_text())
        except FileNotFoundError:
            return None

    def read_meta(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / META).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` whole or not at all (temporary name, then rename)."""
        temp = self.directory / (name + TEMP_SUFFIX)
        with open(temp, "wb") as out:
            out.write(data)
        os.replace(temp, self.directory / name)

    def write_segment(self, init: tuple[str, bytes] | None, name: str, data: bytes, playlist: str) -> None:
        if init is not None:
            self.write(*init)
        self.write(name, data)
        self.write(PLAYLIST, playlist.encode())

    def write_meta(self, status: RecorderStatus) -> None:
        self.write(META, json.dumps(status.to_json(), indent=1).encode())

    def _remove_temporaries(self) -> None:
        for leftover in self.directory.glob("*" + TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def recover(directory: Path) -> bool:
    """Close a recording whose writer died (blocking). True if it was left open.

    Temporary files (the segment being written) go; the playlist is rendered closed (VOD,
    ``ENDLIST``) from the segments it lists; ``recording.json`` says ``ended``, recovered."""
    files = RecordingFiles(directory)
    meta = files.read_meta()
    if meta is None or meta.get("state") != "recording":
        return False
    files._remove_temporaries()
    try:
        playlist = files.read_playlist() or VodPlaylist()
    except VodParseError:
        playlist = VodPlaylist()
    files.write(PLAYLIST, playlist.closed().render().encode())
    known = {k: v for k, v in meta.items() if k in RecorderStatus.__dataclass_fields__}
    status = RecorderStatus(**known)
    status.state, status.recovered = "ended", True
    status.ended_at = status.ended_at or _mtime(directory / PLAYLIST)
    status.segments, status.duration = len(playlist.segments), round(playlist.duration, 3)
    status.discontinuities = playlist.discontinuities
    files.write_meta(status)
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def failure_reason(exc: OSError) -> str:
    """A short label for metrics: ``disk_full``, ``read_only``, ``permission`` or ``io``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "disk_full"
    if exc.errno == errno.EROFS:
        return "read_only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    return "io"


class Recorder:
    """Records one stream into ``directory`` (see the module rules). Start with :meth:`start`."""

    def __init__(
        self,
        stream: Stream,
        directory: Path,
        *,
        extra: dict[str, Any] | None = None,
        config: SegmenterConfig = RECORDING_CONFIG,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[Recorder], None] | None = None,
        max_units: int = 2048,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.stream = stream
        self.files = RecordingFiles(directory)
        self.status = RecorderStatus(started_at=clock(), extra=dict(extra or {}))
        self._clock = clock
        self._on_change = on_change
        self._segmenter = Segmenter(config)
        self._reader = stream.add_reader(READER_KIND, max_units=max_units, max_bytes=max_bytes)
        self._playlist = VodPlaylist()
        self._continued = False
        self._wrote_any = False
        self._last_msn = -1
        self._init_names: dict[int, str] = {}
        self._init_count = 0
        self._session = 0
        self._source_session: int | None = None
        self._tracks: tuple[Track, ...] = ()
        self._seen_drops = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def directory(self) -> Path:
        return self.files.directory

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"recorder {self.stream.slug}")

    async def wait(self) -> None:
        """Until the recording ended (the stream went offline) or failed."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop now (process shutdown): the recording is closed as at the show's end."""
        self._reader.end()
        await self.wait()

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        RECORDINGS.inc()
        try:
            await self._open()
            while True:
                try:
                    self._push(await self._reader.read())
                    while (item := self._reader.read_nowait()) is not None:
                        self._push(item)
                except StreamEnded:
                    break
                await self._write_completed()
            self._segmenter.push(StreamHeader(self._session + 1, ()), self._clock())  # flush the last one
            await self._write_completed()
            await self._close()
        except OSError as exc:
            await self._fail(exc)
        except Exception:
            log.exception("recorder of %s failed", self.stream.slug)
            await self._fail(OSError(errno.EIO, "internal error"))
        finally:
            RECORDINGS.dec()
            self._reader.close()

    async def _open(self) -> None:
        self._playlist = await asyncio.to_thread(self.files.open)
        self._continued = bool(self._playlist.segments)
        self._segmenter.continue_at(round(self._playlist.duration * CLOCK_RATE))  # one timeline
        self._init_count = sum(s.map_uri is not None for s in self._playlist.segments)
        self._update_counts()
        await asyncio.to_thread(self.files.write_meta, self.status)
        log.info("recording %s into %s", self.stream.slug, self.directory)
        self._changed()

    def _push(self, item: ReaderItem) -> None:
        if self._reader.drops != self._seen_drops:
            self._seen_drops = self._reader.drops
            self.status.gaps += 1
            GAPS.inc()
            self._new_session()
        if isinstance(item, StreamHeader):
            self._tracks = item.tracks
            if item.session != self._source_session:
                self._source_session = item.session
                self._new_session()
                return
            item = StreamHeader(self._session, item.tracks)
        self._segmenter.push(item, self._clock())

    def _new_session(self) -> None:
        self._session += 1
        self._segmenter.push(StreamHeader(self._session, self._tracks), self._clock())

    async def _write_completed(self) -> None:
        for segment in [s for s in self._segmenter.segments if s.complete and s.msn > self._last_msn]:
            self._last_msn = segment.msn
            if segment.data is None or segment.duration <= 0:
                continue
            await self._write(segment)

    async def _write(self, segment: Segment) -> None:
        assert segment.data is not None
        init = None
        if segment.init_id not in self._init_names:
            self._init_names = {segment.init_id: f"init-{self._init_count}.mp4"}
            self._init_count += 1
            init = (self._init_names[segment.init_id], self._segmenter.inits[segment.init_id])
        name = f"seg-{len(self._playlist.segments)}.m4s"
        first_new = self._continued and not self._wrote_any
        entry = VodSegment(
            name, segment.duration / CLOCK_RATE, segment.program_date_time,
            discontinuity=segment.discontinuity or first_new,
            map_uri=init[0] if init is not None else None,
        )  # fmt: skip
        playlist = self._playlist.append(entry)
        await asyncio.to_thread(self.files.write_segment, init, name, segment.data, playlist.render())
        self._playlist = playlist
        self._wrote_any = True
        written = len(segment.data) + (len(init[1]) if init is not None else 0)
        self.status.bytes += written
        BYTES.inc(written)
        SEGMENTS.inc()
        self._update_counts()

    async def _close(self) -> None:
        self._playlist = self._playlist.closed()
        self.status.state, self.status.ended_at = "ended", self._clock()
        await asyncio.to_thread(self.files.write, PLAYLIST, self._playlist.render().encode())
        await asyncio.to_thread(self.files.write_meta, self.status)
        log.info("recording of %s ended: %d segments, %.1f s, %d gaps", self.stream.slug,
                 self.status.segments, self.status.duration, self.status.gaps)
        self._changed()

    async def _fail(self, exc: OSError) -> None:
        reason = failure_reason(exc)
        FAILED.labels(reason).inc()
        self.status.state, self.status.ended_at = "failed", self._clock()
        self.status.error = f"{exc.strerror or exc} ({reason}): {self.directory}"
        log.error("recording of %s stopped, the live show goes on: %s", self.stream.slug, self.status.error)
        self._reader.close()
        with contextlib.suppress(OSError):  # close what was written, if the disk lets us
            if self._playlist.segments:
                await asyncio.to_thread(self.files.write, PLAYLIST, self._playlist.closed().render().encode())
            await asyncio.to_thread(self.files.write_meta, self.status)
        self._changed()

    def _update_counts(self) -> None:
        self.status.segments = len(self._playlist.segments)
        self.status.duration = round(self._playlist.duration, 3)
        self.status.discontinuities = self._playlist.discontinuities

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change(self)
            except Exception:
                log.exception("recorder listener failed for %s", self.stream.slug)
