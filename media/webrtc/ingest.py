"""A WHIP publisher: an aiortc peer connection whose media goes into the hub.

Video: H.264 access units pass through (Annex B -> AVCC, parameter sets into the track's avcC
record) with no decoding; VP8 is decoded by aiortc and encoded once to H.264
(:mod:`media.transcode.video`). Audio: Opus packets go as they are into the stream's
derived Opus track (for WHEP viewers and edges; the publisher says so when it publishes, see
:attr:`WhipPublisher.derived`, so the hub runs no AAC->Opus bridge) and through one Opus->AAC
bridge into its AAC track (for HLS and restreams). Opus flows from the first packet, before
the first video frame.

Timestamps: RTP timestamps of each track count from that track's first frame; to put audio
and video on one 90 kHz timeline, each track's first frame is anchored at its arrival time
since the session started (less what aiortc's jitter buffer held it back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.errors import CodecConfigError, UsageError
from media.hub import Hub, Publication
from media.transcode.audio import OpusToAac
from media.transcode.errors import TranscodeError
from media.transcode.video import H264Transcoder
from media.units import CLOCK_RATE, Codec, Track, TrackKind, Unit
from media.webrtc.annexb import AccessUnitAssembler
from media.webrtc.bridge import opus_unit
from media.webrtc.taps import request_keyframe, skip_to_newest, tap_receiver

log = logging.getLogger(__name__)

VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
OPUS_RATE = 48_000
AUDIO_PREFETCH_TICKS = 4 * 1800  # aiortc's audio jitter buffer holds 4 frames of 20 ms
KEYFRAME_REQUEST_INTERVAL = 0.5
KEYFRAME_INTERVAL_TICKS = 2 * CLOCK_RATE
"""The longest GOP we let a WHIP publisher send. Browsers make keyframes only when asked (a PLI)
or every several seconds; HLS cuts segments at keyframes and publishes its playlist after three,
and restream targets want one every 2 to 4 s, so we ask for one when this much time passed."""
TRANSCODE_QUEUE = 4


class _Timeline:
    """Maps one track's RTP-derived timestamps onto the session's 90 kHz timeline."""

    def __init__(self, started: float, rate: int, held_back: int = 0) -> None:
        self._started = started
        self._rate = rate
        self._held_back = held_back
        self._offset: int | None = None

    def map(self, timestamp: int) -> int:
        ticks = timestamp * CLOCK_RATE // self._rate
        if self._offset is None:
            arrival = round((time.monotonic() - self._started) * CLOCK_RATE)
            self._offset = max(0, arrival - self._held_back) - ticks
        return ticks + self._offset


class WhipPublisher:
    """Feeds one room's hub stream from one WHIP peer connection."""

    def __init__(self, hub: Hub, slug: str, source: str, *, expect_video: bool) -> None:
        self.hub = hub
        self.slug = slug
        self.source = source
        self.expect_video = expect_video
        self._publication: Publication | None = None
        self._started = time.monotonic()
        self._video_time = _Timeline(self._started, CLOCK_RATE)
        self._audio_time = _Timeline(self._started, OPUS_RATE, AUDIO_PREFETCH_TICKS)
        self._assembler = AccessUnitAssembler()
        self._aac: OpusToAac | None = None
        self._video_receiver: RTCRtpReceiver | None = None
        self._last_keyframe_request = 0.0
        self._last_keyframe_pts: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._transcoder: H264Transcoder | None = None
        self._force_keyframe = False
        self.video_codec: str | None = None
        self.video_units = 0
        self.audio_units = 0

    # -- wiring ------------------------------------------------------------------------

    def attach(self, publication: Publication) -> None:
        """The hub accepted the publish: start writing through ``publication``."""
        self._publication = publication

    def tap_video(self, receiver: RTCRtpReceiver) -> None:
        self._video_receiver = receiver
        tap_receiver(receiver, self._on_video)

    @property
    def derived(self) -> tuple[Codec, ...]:
        """The derived tracks this publisher writes itself (Opus once it has audio)."""
        return (Codec.OPUS,) if self._aac is not None else ()

    def tap_audio(self, receiver: RTCRtpReceiver) -> None:
        self._aac = OpusToAac()
        tap_receiver(receiver, self._on_audio)

    def start_transcoder(self, receiver: RTCRtpReceiver) -> None:
        """VP8: read the frames aiortc decodes and encode them to H.264 once."""
        self._transcoder = H264Transcoder()
        self._tasks.append(asyncio.get_running_loop().create_task(self._transcode(receiver)))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    @property
    def live(self) -> bool:
        return self._publication is not None and self._publication.live

    def end(self) -> None:
        """The peer connection is gone: the stream waits the grace period for a reconnect."""
        if self._publication is not None:
            self._publication.end()

    def stop(self) -> None:
        """The performer ended the show: the stream goes offline now."""
        if self._publication is not None:
            self._publication.stop()

    # -- keyframes ---------------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the browser/OBS for a keyframe (PLI), at most every half second."""
        now = time.monotonic()
        if self._video_receiver is None or now - self._last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        self._last_keyframe_request = now
        self._force_keyframe = self._transcoder is not None
        asyncio.get_running_loop().create_task(request_keyframe(self._video_receiver))

    def _keep_gop_short(self, keyframe: bool, pts: int) -> None:
        """Ask for a keyframe once the GOP is :data:`KEYFRAME_INTERVAL_TICKS` long."""
        if keyframe or self._last_keyframe_pts is None:
            if keyframe:
                self._last_keyframe_pts = pts
            return
        if pts - self._last_keyframe_pts >= KEYFRAME_INTERVAL_TICKS:
            self.request_keyframe()

    # -- video -------------------------------------------------------------------------

    def _on_video(self, codec: RTCRtpCodecParameters, frame: JitterFrame) -> bool:
        if codec.name.lower() == "vp8":
            self.video_codec = "vp8"
            return True  # decoded by aiortc, transcoded by _transcode
        self.video_codec = "h264"
        self._write_annexb(frame.data, self._video_time.map(frame.timestamp))
        return False

    def _write_annexb(self, data: bytes, pts: int) -> None:
        try:
            unit = self._assembler.feed(data)
        except CodecConfigError as exc:
            log.warning("WHIP %s: bad parameter sets: %s", self.slug, exc)
            return
        if unit is None:
            if self._assembler.waiting_for_keyframe:
                self.request_keyframe()
            return
        if unit.config is not None and self._publication is not None:
            self._set_track(Track.h264(VIDEO_TRACK_ID, unit.config))
            self._ensure_audio_track()
        self._keep_gop_short(unit.keyframe, pts)
        self._write(Unit(VIDEO_TRACK_ID, TrackKind.VIDEO, pts, pts, unit.keyframe, unit.payload))
        self.video_units += 1

    async def _transcode(self, receiver: RTCRtpReceiver) -> None:
        assert self._transcoder is not None
        loop = asyncio.get_running_loop()
        track: Any = receiver.track
        while True:
            try:  # x264 fell behind: keep up with the newest frame
                frame = skip_to_newest(track, await track.recv(), TRANSCODE_QUEUE)
            except MediaStreamError:
                return
            if frame is None:
                return
            assert isinstance(frame, av.VideoFrame)
            pts = self._video_time.map(int(frame.pts or 0))
            keyframe, self._force_keyframe = self._force_keyframe, False
            try:
                encoded = await loop.run_in_executor(
                    None, self._transcoder.encode, frame, pts, keyframe
                )
            except TranscodeError as exc:
                log.warning("WHIP %s: VP8->H.264: %s", self.slug, exc)
                continue
            for data, out_pts in encoded:
                self._write_annexb(data, out_pts)

    # -- audio -------------------------------------------------------------------------

    def _on_audio(self, codec: RTCRtpCodecParameters, frame: JitterFrame) -> bool:
        if codec.name.lower() != "opus" or not frame.data:
            return False
        pts = self._audio_time.map(frame.timestamp)
        if self._publication is not None:
            self._publication.write_derived(Codec.OPUS, opus_unit(frame.data, pts))
        if self.expect_video and not self._has_video():
            return False  # the hub's first header should carry both tracks
        self._bridge_audio(frame.data, pts)
        return False

    def _bridge_audio(self, payload: bytes, pts: int) -> None:
        if self._aac is None:
            return
        self._ensure_audio_track()
        try:
            encoded = self._aac.feed(payload, pts)
        except TranscodeError as exc:
            log.debug("WHIP %s: %s", self.slug, exc)
            return
        for data, out_pts in encoded:
            if out_pts >= 0:
                self._write(Unit(AUDIO_TRACK_ID, TrackKind.AUDIO, out_pts, out_pts, True, data))
                self.audio_units += 1

    def _ensure_audio_track(self) -> None:
        if self._aac is None or self._publication is None:
            return
        if not any(t.id == AUDIO_TRACK_ID for t in self._publication.stream.tracks):
            self._set_track(Track.aac(AUDIO_TRACK_ID, self._aac.audio_specific_config))

    # -- hub ---------------------------------------------------------------------------

    def _has_video(self) -> bool:
        publication = self._publication
        return publication is not None and any(t.kind is TrackKind.VIDEO for t in publication.stream.tracks)

    def _set_track(self, track: Track) -> None:
        if self._publication is not None:
            self._publication.set_track(track)

    def _write(self, unit: Unit) -> None:
        if self._publication is None or not self._publication.live:
            return
        try:
            self._publication.write(unit)
        except UsageError as exc:
            log.warning("WHIP %s: %s", self.slug, exc)

