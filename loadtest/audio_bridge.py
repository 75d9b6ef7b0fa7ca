"""CPU cost of one audio bridge (media.transcode.audio): Opus->AAC (WHIP to HLS/RTMP) and
AAC->Opus (RTMP to WHEP), as the share of one core that one stream's bridge takes.

Input: 60 s of 48 kHz stereo made by ffmpeg (a sine tone plus noise, so the encoders work).
Run: ``python -m loadtest.audio_bridge``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import av

from media.transcode.audio import AacToOpus, OpusToAac

SECONDS = 60


def packets(path: Path) -> list[tuple[bytes, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        out = []
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None and packet.time_base is not None:
                out.append((bytes(packet), int(packet.pts * packet.time_base * 90000)))
        return out


def make(path: Path, codec: list[str]) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}", "-f", "lavfi",
         "-i", f"anoisesrc=color=pink:sample_rate=48000:amplitude=0.1:duration={SECONDS}",
         "-filter_complex", "amix=inputs=2", "-ac", "2", *codec, str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    return path


def measure(bridge: OpusToAac | AacToOpus, units: list[tuple[bytes, int]]) -> dict[str, float]:
    started = time.process_time()
    out = 0
    for payload, pts in units:
        out += len(bridge.feed(payload, pts))
    cpu = time.process_time() - started
    return {"cpu_s": round(cpu, 3), "core_share_pct": round(100 * cpu / SECONDS, 3), "frames_out": out}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        opus = packets(make(Path(tmp) / "in.ogg", ["-c:a", "libopus", "-b:a", "96k"]))
        aac_path = make(Path(tmp) / "in.m4a", ["-c:a", "aac", "-b:a", "128k"])
        with av.open(str(aac_path)) as container:
            asc = bytes(container.streams.audio[0].codec_context.extradata or b"")
        aac = packets(aac_path)
    result = {"seconds_of_audio": SECONDS,
              "opus_to_aac": measure(OpusToAac(), opus),
              "aac_to_opus": measure(AacToOpus(asc), aac)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
