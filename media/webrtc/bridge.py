"""The AAC->Opus bridge: Opus for the WebRTC viewers of a room whose publisher sent AAC (RTMP).

The hub runs one :class:`AacBridge` per stream while a reader asks for derived Opus
(``add_reader(kind, derived=Codec.OPUS)``: each WHEP viewer's audio, each edge pull) and the
publisher does not supply its own (a WHIP publisher's Opus goes into the stream as it is);
:meth:`media.webrtc.session.WebRtc` registers it with :func:`register`. The bridge is a reader
of the stream's AAC track like any other (bounded: a bridge that falls behind skips to the next
keyframe, as a slow viewer does) and writes Opus back with :meth:`Stream.write_derived`, so
each room has one fan-out, the hub's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from media.errors import StreamEnded
from media.hub import Hub, Stream
from media.transcode.audio import AacToOpus
from media.transcode.errors import TranscodeError
from media.units import Codec, StreamHeader, Track, TrackKind, Unit

log = logging.getLogger(__name__)

OPUS_TRACK_ID = 1
"""The track id of derived Opus units (their readers get nothing else)."""
OPUS_READER_MAX_UNITS = 50
"""What a reader of derived Opus may hold: one second of 20 ms frames."""
BRIDGE_MAX_UNITS = 256
BATCH = 16
TRANSCODE_THREADS = 2
_TRANSCODE = ThreadPoolExecutor(TRANSCODE_THREADS, thread_name_prefix="opus-bridge")


def register(hub: Hub) -> None:
    """Let ``hub`` bridge AAC to Opus for the readers that ask for Opus."""
    hub.add_bridge(Codec.OPUS, AacBridge)


def opus_unit(payload: bytes, pts: int) -> Unit:
    """One Opus packet as a unit of the derived Opus track."""
    return Unit(OPUS_TRACK_ID, TrackKind.AUDIO, pts, pts, True, payload)


def _transcode(
    bridge: AacToOpus, frames: list[tuple[bytes, int]]
) -> tuple[list[tuple[bytes, int]], list[str]]:
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
    """Reads one stream's AAC track and writes it back as derived Opus; started by the hub.

    Decoding and encoding run in :data:`TRANSCODE_THREADS` threads shared by every room, not
    on the event loop: about half a millisecond of CPU per 21 ms AAC frame, and after the loop
    was busy a backlog of them, would otherwise hold it (a WHEP flood starts the bridge, and
    every chat message and health check waited behind it). One room's frames are fed to its
    bridge in order, one batch (what its reader holds, at most :data:`BATCH` frames) at a time;
    the Opus packets are written to the stream on the loop. A new publisher session or a
    changed AAC configuration gets a new decoder; the bridge carries on.
    """

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._reader = stream.add_reader("opus-bridge", max_units=BRIDGE_MAX_UNITS)
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._stopped = False
        self.frames_in = 0

    def stop(self) -> None:
        self._stopped = True
        self._reader.close()
        self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        track: Track | None = None
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
                        aac = next((t for t in item.tracks if t.codec is Codec.AAC), None)
                        if aac is not None and aac != track:
                            if frames and bridge is not None:  # the old track's frames first
                                await self._transcode(loop, bridge, frames)
                                frames = []
                            track, bridge = aac, AacToOpus(aac.config)
                    elif bridge is not None and track is not None and item.track_id == track.id:
                        frames.append((item.payload, item.pts))
                if frames and bridge is not None:
                    await self._transcode(loop, bridge, frames)

    async def _transcode(
        self, loop: asyncio.AbstractEventLoop, bridge: AacToOpus, frames: list[tuple[bytes, int]]
    ) -> None:
        self.frames_in += len(frames)
        out, errors = await loop.run_in_executor(_TRANSCODE, _transcode, bridge, frames)
        if self._stopped:
            return
        for payload, pts in out:
            self._stream.write_derived(Codec.OPUS, opus_unit(payload, pts))
        for error in errors:
            log.warning("AAC->Opus bridge of %s: %s", self._stream.slug, error)
