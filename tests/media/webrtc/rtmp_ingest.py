"""ffmpeg publishing over RTMP like OBS, for the WHEP tests."""

from __future__ import annotations

import subprocess


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


