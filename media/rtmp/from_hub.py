"""From the hub's units to the FLV tags an RTMP ingest expects, Sans-I/O: the reverse of
:mod:`media.rtmp.to_hub`, used by the relay (``relay.target``) to restream a room.

Feed each item a hub :class:`media.reader.Reader` gives (``StreamHeader`` or ``Unit``) to
:meth:`FlvRemuxer.feed`; get what :class:`media.rtmp.client.RtmpPublisher` sends, in order:
``Metadata``, ``VideoConfig``, ``AudioConfig`` and ``MediaUnit`` values (RTMP milliseconds).

Rules:

* Video passes through: H.264 (legacy FLV AVC) and HEVC (Enhanced RTMP ``hvc1``). Audio is
  AAC only: an Opus track is skipped (a stream from WHIP gets an AAC track from the shared
  bridge, and that one is used). Units of other tracks are counted in ``skipped``.
* The first header sends ``@setDataFrame onMetaData`` and the sequence headers; a later
  header with changed codec configuration sends the changed sequence header again.
* Output starts at a video keyframe when there is video (the hub's GOP cache gives one), and
  timestamps start near 0 on each connection (one remuxer per connection).
* A header with a new ``session`` (our publisher reconnected: a new clock) continues the
  timeline: the next unit is placed ``GAP_MS`` after the last tag sent, and output waits for
  the next keyframe, so the target sees one continuous show.
* Timestamps are milliseconds (hub ticks / 90), 32-bit, and never go backwards per track.
"""

from __future__ import annotations

from dataclasses import replace

from media.rtmp import flv
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig
from media.units import CLOCK_RATE, Codec, StreamHeader, Track, Unit

TICKS_PER_MS = CLOCK_RATE // 1000
GAP_MS = 33
VIDEO_CODECS = {Codec.H264: "h264", Codec.HEVC: "hevc"}
FLV_CODEC_IDS = {Codec.H264: 7, Codec.HEVC: 12}

Out = Metadata | VideoConfig | AudioConfig | MediaUnit


class FlvRemuxer:
    """One connection's worth of remuxing (see the module docstring)."""

    def __init__(self, encoder: str = "notalabel-relay") -> None:
        self.encoder = encoder
        self.skipped = 0
        self._video: Track | None = None
        self._audio: Track | None = None
        self._session: int | None = None
        self._sent_meta = False
        self._need_keyframe = True
        self._base_dts: int | None = None
        self._offset_ms = 0
        self._last_ms = 0

    def feed(self, item: StreamHeader | Unit) -> list[Out]:
        if isinstance(item, StreamHeader):
            return self._header(item)
        return self._unit(item)

    # -- headers -----------------------------------------------------------------------

    def _header(self, header: StreamHeader) -> list[Out]:
        if self._session is not None and header.session != self._session:
            self._offset_ms = self._last_ms + GAP_MS
            self._base_dts = None
            self._need_keyframe = True
        self._session = header.session
        video = next((t for t in header.tracks if t.codec in VIDEO_CODECS), None)
        audio = next((t for t in header.tracks if t.codec is Codec.AAC), None)
        out: list[Out] = []
        if not self._sent_meta and (video or audio):
            out.append(self._metadata(video, audio))
            self._sent_meta = True
        ts = self._last_ms
        if video is not None and video != self._video:
            out.append(replace(_video_config(video), dts_ms=ts))
        if audio is not None and audio != self._audio:
            out.append(replace(_audio_config(audio), dts_ms=ts))
        self._video, self._audio = video or self._video, audio or self._audio
        if self._video is None:
            self._need_keyframe = False
        return out

    def _metadata(self, video: Track | None, audio: Track | None) -> Metadata:
        meta: dict[str, object] = {"encoder": self.encoder}
        if video is not None:
            meta.update(width=float(video.width), height=float(video.height),
                        videocodecid=float(FLV_CODEC_IDS[video.codec]))
        if audio is not None:
            meta.update(audiocodecid=10.0, audiosamplerate=float(audio.sample_rate),
                        audiochannels=float(audio.channels), stereo=audio.channels > 1)
        return Metadata(meta)

    # -- units -------------------------------------------------------------------------

    def _unit(self, unit: Unit) -> list[Out]:
        video, audio = self._video, self._audio
        is_video = video is not None and unit.track_id == video.id
        if not is_video and (audio is None or unit.track_id != audio.id):
            self.skipped += 1
            return []
        if self._need_keyframe:
            if not (is_video and unit.keyframe):
                self.skipped += 1
                return []
            self._need_keyframe = False
        if self._base_dts is None:
            self._base_dts = unit.dts
        if unit.dts < self._base_dts:
            self.skipped += 1  # audio from just before the keyframe we started on
            return []
        ms = (self._offset_ms + (unit.dts - self._base_dts) // TICKS_PER_MS) & 0xFFFFFFFF
        self._last_ms = max(self._last_ms, ms)
        cts = (unit.pts - unit.dts) // TICKS_PER_MS
        if is_video:
            assert video is not None
            return [MediaUnit("video", VIDEO_CODECS[video.codec], ms, ms + cts, unit.keyframe, unit.payload)]
        return [MediaUnit("audio", "aac", ms, ms, True, unit.payload)]


def _video_config(track: Track) -> VideoConfig:
    if track.codec is Codec.H264:
        return flv.parse_avc_config(track.config)
    return flv.parse_hevc_config(track.config)


def _audio_config(track: Track) -> AudioConfig:
    return flv.parse_audio_specific_config(track.config)
