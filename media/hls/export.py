"""One MP4 file of a recording: a remux of its segments (no re-encode), with progress.

Blocking (PyAV, which releases the GIL while it reads and writes): run it in a thread. The
recording's timeline is already monotonic across publisher sessions (the segmenter
continues each new session where the previous one ended), so packets are copied as they
are; a packet whose decode time does not advance on its stream (the frame or two dropped
at a discontinuity) is left out, so the file's timestamps are strictly monotonic per stream.
The output is written under a temporary name and renamed when complete, with the index
(``moov``) at the front (``faststart``) so a player can start before the whole file is in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import av

Progress = Callable[[float], None]
"""Called with the share done, 0.0 to 1.0 (at most about once per second of media)."""


class ExportError(Exception):
    """The recording could not be read or the file could not be written."""


def remux_to_mp4(playlist: Path, out: Path, duration: float, progress: Progress | None = None) -> int:
    """Remux the recording at ``playlist`` (``duration`` seconds) into ``out``; packets written."""
    temp = out.with_name(out.name + ".part")
    written = 0
    try:
        with av.open(str(playlist), options={"allowed_extensions": "ALL"}) as source, \
                av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"}) as target:
            streams = [s for s in source.streams if s.type in ("video", "audio")]
            if not streams:
                raise ExportError(f"{playlist} has no audio or video")
            outputs = {s.index: target.add_stream_from_template(s) for s in streams}
            last_dts: dict[int, int] = {}
            reported = -1.0
            for packet in source.demux(streams):
                if packet.dts is None or packet.size == 0:
                    continue
                index = packet.stream.index
                if index in last_dts and packet.dts <= last_dts[index]:
                    continue
                last_dts[index] = packet.dts
                if progress is not None and packet.time_base is not None:
                    seconds = float(packet.dts * packet.time_base)
                    if seconds - reported >= 1.0:
                        reported = seconds
                        progress(min(1.0, seconds / duration) if duration > 0 else 0.0)
                packet.stream = outputs[index]
                target.mux(packet)
                written += 1
        os.replace(temp, out)
    except av.error.FFmpegError as exc:
        raise ExportError(f"could not remux {playlist}: {exc}") from exc
    finally:
        if temp.exists():
            temp.unlink()
    if progress is not None:
        progress(1.0)
    return written
