"""Recordings of shows (issue 13): which streams are recorded, where, their chapters, retention.

Rules:

* A stream that goes live here is recorded when its room has a show that is not over and
  is recorded (the show's ``record``; by default on when a tier includes replay), or when the
  room's ``record`` is on (its free streams: under the current show without tiers if there is
  one, else as a free recording ``rec_...`` of its own); a current show whose ``record`` is
  false is not recorded. One recording per show, in ``{recordings_dir}/{show_id}/``
  (``media.hls.recorder`` writes it); a second stream of the same show continues it after a
  discontinuity. A free recording's replay window is 0 h: retention removes it
  ``recording_grace_h`` after it ended, unless kept.
* At start, this node closes the recordings in its directory that a crash left open
  (``media.hls.recorder.recover``): the process that wrote them is gone.
* Chapters: while a room is recorded, its ``song.queue`` events whose change is ``play``
  open a chapter (title, artist, wall time) and ``done`` closes it; they are kept in
  ``chapters.json`` beside the playlist and mapped to media time through the playlist's
  ``EXT-X-PROGRAM-DATE-TIME`` when served.
* A recorder's status (recording, ended, failed with the error) is kept per room for the
  studio (``status``); a failure is logged and counted by the recorder, and the live show
  goes on.
* Export: one MP4 per recording (``export.mp4`` beside it), a remux in a thread with its
  progress kept here for the studio; one export per show at a time.
* Retention: every ``recording_sweep_s`` each node looks at its own directory and deletes the
  recordings whose replay window (``replay_hours`` after the show's end, or the recording's
  end) closed more than ``recording_grace_h`` ago, unless the performer keeps it (a ``keep``
  file) or it is being written. A directory is first renamed aside, then removed, so two
  sweeps (or a sweep and a performer's delete) never remove one twice; a show that no longer
  exists takes its recording with it.
* File work (recovery, chapters, export, retention) runs in threads: the event loop never
  blocks on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from media.hls.export import ExportError, remux_to_mp4
from media.hls.recorder import META, PLAYLIST, Recorder, RecorderStatus, recover
from media.hub import Hub, Stream
from rooms.events import Event
from server.analytics import SHOW_LEAD_S
from ticketing.errors import NotFound
from ticketing.model import Show
from ticketing.service import Ticketing

log = logging.getLogger("notalabel.recordings")

CHAPTERS = "chapters.json"
EXPORT = "export.mp4"
CLIPS = "clips"
"""Clips of a recording (short VOD playlists over its segments), public by their link."""
FREE_PREFIX = "rec_"
"""Recordings of a room's free streams that no show covers: ``rec_`` + hex."""
KEEP = "keep"
"""A file in a recording's directory: its performer keeps it past the retention time."""
_temp_names = itertools.count()


def recordings_root(recordings_dir: str, data_dir: str) -> Path:
    return Path(recordings_dir) if recordings_dir else Path(data_dir) / "recordings"


def safe_show_id(show_id: str) -> bool:
    """Show ids are ``shw_`` + hex: nothing else may become a path."""
    return 0 < len(show_id) <= 32 and show_id.replace("_", "").isalnum() and show_id.isascii()


def recover_all(root: Path) -> list[str]:
    """Close every recording under ``root`` left open by a dead process (blocking)."""
    closed: list[str] = []
    if not root.is_dir():
        return closed
    for directory in sorted(root.iterdir()):
        if not directory.is_dir():
            continue
        try:
            meta = json.loads((directory / META).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        pid, extra = meta.get("pid"), meta.get("extra") or {}
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid, extra.get("proc_start")):
            continue  # another process on this host is still writing it
        try:
            if recover(directory):
                closed.append(directory.name)
        except OSError:
            log.exception("could not close the partial recording %s", directory)
    return closed


def process_start(pid: int | None = None) -> int | None:
    """When process ``pid`` (this one by default) started, in clock ticks since boot (Linux
    /proc): a pid alone may have been reused by another process since."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started: object) -> bool:
    """Whether the process that wrote a recording still runs (same pid, same start time)."""
    if isinstance(started, int):
        return process_start(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Chapters:
    """The setlist of one recording, from the room's song events (see the module rules)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CHAPTERS
        self.items: list[dict[str, Any]] = []

    def load(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text())
            if isinstance(data, list):
                self.items = [c for c in data if isinstance(c, dict)]

    def apply(self, event: Event) -> bool:
        """Take a room event; True when the setlist changed."""
        if event.type != "song.queue":
            return False
        change = event.data.get("change") or {}
        op, request_id = change.get("op"), change.get("request_id")
        if op == "play":
            entry = next((e for e in event.data.get("queue", []) if e.get("id") == request_id), None)
            song = entry.get("song", {}) if isinstance(entry, dict) else {}
            self.items.append({"request_id": request_id, "title": str(song.get("title", "")),
                               "artist": str(song.get("artist", "")), "start": event.ts or time.time(),
                               "end": None})
            return True
        if op == "done":
            for chapter in reversed(self.items):
                if chapter["request_id"] == request_id and chapter["end"] is None:
                    chapter["end"] = event.ts or time.time()
                    return True
        return False

    def save(self, text: str) -> None:
        """Write ``text`` (a :meth:`snapshot`) whole; saves may overlap, each has its own name."""
        temp = self.path.with_name(f"{CHAPTERS}.{next(_temp_names)}.tmp")
        temp.write_text(text)
        os.replace(temp, self.path)

    def snapshot(self) -> str:
        return json.dumps(self.items, indent=1)


RoomSettings = Callable[[str], Awaitable[Any]]
"""A room's row by slug (``record``, ``replay_access``, ``title``), or None."""
Subscribe = Callable[[str, Callable[[Event], None]], Any]


class Recordings:
    """This node's recorders, one per recorded live room."""

    def __init__(self, root: Path, hub: Hub, ticketing: Ticketing, clock: Callable[[], float] = time.time,
                 *, grace_h: float = 24.0, sweep_s: float = 0.0, room: RoomSettings | None = None) -> None:
        self.root = root
        self.room = room
        self.grace_h = grace_h
        self.sweep_s = sweep_s
        self.exports: dict[str, Export] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.hub = hub
        self.ticketing = ticketing
        self.clock = clock
        self.active: dict[str, Recorder] = {}
        self.chapters: dict[str, Chapters] = {}
        self.last: dict[str, RecorderStatus] = {}
        self._failed: dict[str, Stream] = {}
        """Streams whose recorder stopped on a write error: not started again for them (a later
        state change of the same stream would only fail and log again); a new stream may."""
        self._starting: set[str] = set()
        self._pending_saves: dict[Path, tuple[Chapters, str]] = {}
        self._saver: asyncio.Task[None] | None = None
        self._proc_start = process_start()

    def directory(self, show_id: str) -> Path:
        return self.root / show_id

    async def start(self) -> None:
        closed = await asyncio.to_thread(recover_all, self.root)
        if closed:
            log.warning("closed %d recordings a previous process left open: %s", len(closed), ", ".join(closed))
        if self.sweep_s > 0:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="recordings-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for job in list(self.exports.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job.task
        recorders = list(self.active.values())
        self.active.clear()
        for recorder in recorders:
            await recorder.stop()
        if self._saver is not None:
            await self._saver

    async def recording_for(self, slug: str) -> tuple[str, str] | None:
        """The id and title this stream is recorded under, when it is recorded (see the rules)."""
        catalog, now = self.ticketing.catalog, self.clock()
        for show in await catalog.live_shows(slug, now):
            if show.recorded(await catalog.tiers(show.id)):
                return show.id, show.title
        current = await catalog.current_show(slug, now, SHOW_LEAD_S)
        if current is not None and current.record is not None:
            return (current.id, current.title) if current.record else None
        room = await self.room(slug) if self.room is not None else None
        if room is None or not room.record:
            return None
        if current is not None and not await catalog.tiers(current.id):
            return current.id, current.title
        if current is not None:
            return None  # a ticketed show without replay: its own ``record`` decides
        return FREE_PREFIX + secrets.token_hex(8), f"{room.title} ({time.strftime('%Y-%m-%d %H:%M', time.gmtime(now))} UTC)"

    async def stream_changed(self, slug: str, state: str) -> None:
        """Router reaction to ``StreamStateChanged``: start recording a stream that went live."""
        stream = self.hub.get(slug)
        if state == "offline" or stream is None:
            self._failed.pop(slug, None)
        if state == "offline" or stream is None or slug in self._starting or self._failed.get(slug) is stream:
            return
        current = self.active.get(slug)
        if current is not None and current.stream is stream:
            return
        self._starting.add(slug)
        try:
            chosen = await self.recording_for(slug)
            stream = self.hub.get(slug)
            if chosen is None or stream is None or (slug in self.active and self.active[slug].stream is stream):
                return
            show_id, title = chosen
            directory = self.directory(show_id)
            chapters = Chapters(directory)
            await asyncio.to_thread(chapters.load)
            self.exports.pop(show_id, None)  # the recording grows: an earlier MP4 is stale
            recorder = Recorder(stream, directory, extra={"show_id": show_id, "room": slug, "title": title,
                                                          "proc_start": self._proc_start},
                                clock=self.clock, on_change=self._recorder_changed)
            self.active[slug] = recorder
            self.chapters[slug] = chapters
            recorder.start()
        finally:
            self._starting.discard(slug)

    def _recorder_changed(self, recorder: Recorder) -> None:
        slug = recorder.stream.slug
        self.last[slug] = recorder.status
        if recorder.status.state == "failed":
            self._failed[slug] = recorder.stream
        if recorder.status.state != "recording" and self.active.get(slug) is recorder:
            del self.active[slug]

    def room_event(self, slug: str, event: Event) -> None:
        """A room event while its stream is held here: song events become chapters."""
        chapters = self.chapters.get(slug)
        recorder = self.active.get(slug)
        if chapters is None or recorder is None or not chapters.apply(event):
            return
        self._pending_saves[chapters.path] = (chapters, chapters.snapshot())  # the newest wins
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(self._save_pending(), name="chapters")

    async def _save_pending(self) -> None:
        while self._pending_saves:
            _, (chapters, text) = self._pending_saves.popitem()
            try:
                await asyncio.to_thread(chapters.save, text)
            except OSError as exc:
                log.error("could not write the chapters %s: %s", chapters.path, exc)

    def status(self, slug: str) -> dict[str, Any] | None:
        """The room's recording as the studio shows it: the active one, else the last one here."""
        recorder = self.active.get(slug)
        status = recorder.status if recorder is not None else self.last.get(slug)
        if status is None:
            return None
        body = status.to_json()
        body.pop("pid", None)
        body["show_id"] = body.pop("extra", {}).get("show_id")
        return body

    def playlist_path(self, show_id: str) -> Path:
        return self.directory(show_id) / PLAYLIST

    def recording_of(self, show_id: str) -> bool:
        """True while this node writes ``show_id``'s recording."""
        return any(r.status.extra.get("show_id") == show_id for r in self.active.values())

    # -- export ---------------------------------------------------------------------------

    def export(self, show_id: str, duration: float) -> Export:
        """The show's export job: the one running or done, else a new one."""
        job = self.exports.get(show_id)
        if job is not None and job.state in ("running", "done"):
            return job
        job = Export(self.directory(show_id), duration)
        self.exports[show_id] = job
        return job

    # -- retention ------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a database blip must not end retention; the next run retries
                log.warning("recordings retention run failed", exc_info=True)

    async def sweep(self) -> list[str]:
        """Delete every recording here past its retention (see the rules); the show ids."""
        names = await asyncio.to_thread(_listing, self.root)
        deleted = []
        for show_id, meta in names:
            if self.recording_of(show_id) or meta.get("state") == "recording" or meta.get("kept"):
                continue
            try:
                show: Show | None = await self.ticketing.catalog.show(show_id)
            except NotFound:
                show = None
            if show is None and show_id.startswith(FREE_PREFIX):
                ended = meta.get("ended_at")
                if not isinstance(ended, int | float) or self.clock() < ended + self.grace_h * 3600:
                    continue
            closes = None if show is None else window_closes(show, meta)
            if show is not None and (closes is None or self.clock() < closes + self.grace_h * 3600):
                continue
            if await self.delete(show_id):
                deleted.append(show_id)
        if deleted:
            log.info("retention deleted %d recordings: %s", len(deleted), ", ".join(deleted))
        return deleted

    async def delete(self, show_id: str) -> bool:
        """Remove the recording now (renamed aside first: only one caller removes it)."""
        return await asyncio.to_thread(_remove, self.directory(show_id))

    async def keep(self, show_id: str, keep: bool) -> None:
        await asyncio.to_thread(_set_keep, self.directory(show_id), keep)


def window_closes(show: Show, meta: dict[str, Any]) -> float | None:
    """When replay closes for ticket holders; None while the show is on and has no end."""
    end = show.ends_at if show.ends_at is not None else meta.get("ended_at")
    if not isinstance(end, int | float):
        return None
    return float(end) + show.replay_hours * 3600


def read_meta(directory: Path) -> dict[str, Any] | None:
    """``recording.json`` with ``kept`` (the performer's keep file), or None (blocking)."""
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    meta["kept"] = (directory / KEEP).exists()
    return meta


def _listing(root: Path) -> list[tuple[str, dict[str, Any]]]:
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(root.iterdir()):
        if directory.is_dir() and safe_show_id(directory.name):
            meta = read_meta(directory)
            if meta is not None:
                found.append((directory.name, meta))
    return found


def _remove(directory: Path) -> bool:
    aside = directory.with_name(f".deleting-{directory.name}-{os.getpid()}-{next(_temp_names)}")
    try:
        directory.rename(aside)
    except FileNotFoundError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _set_keep(directory: Path, keep: bool) -> None:
    if keep:
        (directory / KEEP).touch()
    else:
        with contextlib.suppress(FileNotFoundError):
            (directory / KEEP).unlink()


class Export:
    """One MP4 remux of a recording in a thread, with its progress (0.0 to 1.0)."""

    def __init__(self, directory: Path, duration: float) -> None:
        self.path = directory / EXPORT
        self.progress = 0.0
        self.state = "running"
        self.error: str | None = None
        self.task = asyncio.get_running_loop().create_task(self._run(directory, duration), name="export")

    def _progress(self, done: float) -> None:  # called from the worker thread: one float store
        self.progress = done

    async def _run(self, directory: Path, duration: float) -> None:
        try:
            await asyncio.to_thread(remux_to_mp4, directory / PLAYLIST, self.path, duration, self._progress)
            self.state = "done"
        except (ExportError, OSError) as exc:
            self.state, self.error = "failed", str(exc)
            log.error("export of %s failed: %s", directory.name, exc)

    def wire(self) -> dict[str, Any]:
        return {"state": self.state, "progress": round(self.progress, 3), "error": self.error}
