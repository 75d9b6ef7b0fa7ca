"""Test-only glue until server/app.py wires RTMP into the hub: an IngestHandler whose sessions
write RTMP units into the hub (key = room slug), and ffmpeg publishing like OBS."""

from __future__ import annotations

import subprocess

from media.hub import Hub, Stream
from media.rtmp.server import PublishSession, Refusal
from media.rtmp.units import AudioConfig, MediaUnit, Metadata, VideoConfig
from media.units import Track, TrackKind, Unit


class _Session:
    def __init__(self, hub: Hub, slug: str, source: str) -> None:
        self.hub, self.slug, self.source = hub, slug, source
        self.stream: Stream = hub.start_publish(slug, source)

    def on_metadata(self, metadata: Metadata) -> None:
        pass

    def on_video_config(self, config: VideoConfig) -> None:
        self.stream.set_track(Track.h264(1, config.record))

    def on_audio_config(self, config: AudioConfig) -> None:
        self.stream.set_track(Track.aac(2, config.audio_specific_config))

    def on_video(self, unit: MediaUnit) -> None:
        self._write(1, TrackKind.VIDEO, unit)

    def on_audio(self, unit: MediaUnit) -> None:
        self._write(2, TrackKind.AUDIO, unit)

    def _write(self, track_id: int, kind: TrackKind, unit: MediaUnit) -> None:
        if any(t.id == track_id for t in self.stream.tracks):
            self.stream.write(Unit(track_id, kind, unit.dts_ms * 90, unit.pts_ms * 90, unit.keyframe, unit.payload))

    def on_unpublish(self, reason: str) -> None:
        self.hub.end_publish(self.slug, self.source)


class HubIngest:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def authorize(self, app: str, stream_key: str, peer: str) -> PublishSession | Refusal:
        return _Session(self.hub, stream_key, f"rtmp:{peer}")


def ffmpeg_publish(url: str, seconds: int, *, size: str = "640x360", rate: int = 30,
                   extra_video: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """ffmpeg as OBS: H.264 (high profile, B-frames off, 1 s GOP) + AAC, paced in real time."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
         "-g", str(rate), "-pix_fmt", "yuv420p", *extra_video,
         "-c:a", "aac", "-b:a", "128k", "-f", "flv", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()


