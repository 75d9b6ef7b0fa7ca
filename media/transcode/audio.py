"""Audio bridges: Opus (WebRTC) to AAC (HLS, RTMP) and AAC to Opus, with PyAV.

Each bridge is a plain object: ``feed(payload, pts)`` returns the encoded frames that are
ready, as ``(payload, pts)`` pairs; timestamps are on the hub's 90 kHz clock. A bridge keeps
its own sample timeline (input timestamp of the first frame + samples produced), so encoder
delay and frame-size changes (20 ms Opus, 1024-sample AAC) never make timestamps jump.
One bridge serves a whole stream; the hub fans its output out to every reader.
"""

from __future__ import annotations

import fractions
from typing import Literal, cast

import av
from av.audio.resampler import AudioResampler

from media.transcode.errors import BridgeInputError, BridgeSetupError

CLOCK_RATE = 90_000
SAMPLE_RATE = 48_000
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)

Encoded = list[tuple[bytes, int]]


def _codec(name: str, mode: Literal["r", "w"]) -> av.AudioCodecContext:
    try:
        return cast(av.AudioCodecContext, av.CodecContext.create(name, mode))
    except (av.FFmpegError, ValueError) as exc:
        raise BridgeSetupError(f"cannot create {name} ({mode}): {exc}") from exc


class _Bridge:
    """Decode, resample to the encoder's frame size, encode; see the module docstring."""

    def __init__(self, decoder: av.AudioCodecContext, encoder: av.AudioCodecContext, fmt: str) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self._resampler = AudioResampler(
            format=fmt, layout="stereo", rate=SAMPLE_RATE, frame_size=encoder.frame_size or 960
        )
        self._origin: int | None = None
        self._samples_in = 0
        self.errors = 0

    def feed(self, payload: bytes, pts: int) -> Encoded:
        """One input frame with its 90 kHz pts; returns what the encoder produced."""
        if self._origin is None:
            self._origin = pts
        packet = av.Packet(payload)
        try:
            frames = self._decoder.decode(packet)
        except av.FFmpegError as exc:
            self.errors += 1
            raise BridgeInputError(f"cannot decode audio packet: {exc}") from exc
        out: Encoded = []
        for frame in frames:
            frame.pts = None
            for chunk in self._resampler.resample(frame):
                chunk.pts = self._samples_in
                chunk.time_base = _TIME_BASE
                self._samples_in += chunk.samples
                out += self._encode(chunk)
        return out

    def _encode(self, frame: av.AudioFrame) -> Encoded:
        assert self._origin is not None
        out: Encoded = []
        for packet in self._encoder.encode(frame):
            samples = packet.pts if packet.pts is not None else 0
            out.append((bytes(packet), self._origin + samples * CLOCK_RATE // SAMPLE_RATE))
        return out


class OpusToAac(_Bridge):
    """Opus packets (48 kHz) to raw AAC-LC frames (48 kHz stereo, 1024 samples)."""

    def __init__(self, bit_rate: int = 128_000) -> None:
        decoder = _codec("libopus", "r")
        decoder.sample_rate = SAMPLE_RATE
        decoder.layout = "stereo"
        encoder = _codec("aac", "w")
        encoder.sample_rate = SAMPLE_RATE
        encoder.layout = "stereo"
        encoder.format = "fltp"
        encoder.bit_rate = bit_rate
        encoder.time_base = _TIME_BASE
        encoder.open()
        super().__init__(decoder, encoder, "fltp")

    @property
    def audio_specific_config(self) -> bytes:
        """The encoder's AudioSpecificConfig, for the hub's AAC track."""
        return bytes(self._encoder.extradata or b"")


class AacToOpus(_Bridge):
    """Raw AAC frames (any rate, described by ``audio_specific_config``) to 20 ms Opus."""

    def __init__(self, audio_specific_config: bytes, bit_rate: int = 96_000) -> None:
        decoder = _codec("aac", "r")
        decoder.extradata = audio_specific_config
        encoder = _codec("libopus", "w")
        encoder.sample_rate = SAMPLE_RATE
        encoder.layout = "stereo"
        encoder.format = "s16"
        encoder.bit_rate = bit_rate
        encoder.time_base = _TIME_BASE
        encoder.options = {"application": "lowdelay"}
        encoder.open()
        super().__init__(decoder, encoder, "s16")

    @property
    def opus_head(self) -> bytes:
        return bytes(self._encoder.extradata or b"")
