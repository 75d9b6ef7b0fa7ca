"""H.264 framing between RTP (Annex B byte streams) and the hub (AVCC + avcC record).

Pure: bytes in, values out. RFC 6184 depacketizers hand us one access unit as Annex B (start
codes 00 00 01 / 00 00 00 01 before each NAL unit). The hub wants NAL units each prefixed with
a 4-byte length (ISO/IEC 14496-15) and the parameter sets apart, in the track's avcC record.
:class:`AccessUnitAssembler` keeps the latest SPS/PPS, strips parameter sets and access unit
delimiters out of the payload and says when the configuration changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.h264 import NAL_IDR, NAL_PPS, NAL_SPS, AvcDecoderConfig, split_avcc

NAL_AUD = 9
START_CODE = b"\x00\x00\x00\x01"


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes removed, empty units skipped)."""
    nals: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        end = data.find(b"\x00\x00\x01", begin)
        stop = len(data) if end == -1 else end
        nal = data[begin:stop]
        if end != -1:
            nal = nal.rstrip(b"\x00")  # trailing_zero_8bits and the 4-byte start code's zero
        if nal:
            nals.append(nal)
        start = end
    return nals


def to_avcc(nals: list[bytes]) -> bytes:
    """Join NAL units with 4-byte big-endian lengths."""
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in nals)


def to_annexb(nals: list[bytes]) -> bytes:
    return b"".join(START_CODE + nal for nal in nals)


def avcc_to_annexb(payload: bytes, length_size: int, config: AvcDecoderConfig | None) -> bytes:
    """One hub access unit as Annex B; with ``config``, its SPS/PPS go first (for keyframes,
    so a decoder can start there)."""
    nals = split_avcc(payload, length_size)
    if config is not None and not any(nal and nal[0] & 0x1F == NAL_SPS for nal in nals):
        nals = [*config.sps, *config.pps, *nals]
    return to_annexb(nals)


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One access unit ready for the hub."""

    payload: bytes
    keyframe: bool
    config: bytes | None
    """A new avcC record when the parameter sets changed with this unit, else None."""


class AccessUnitAssembler:
    """Turns Annex B access units into AVCC units plus avcC records.

    Units before the first SPS, PPS and IDR are dropped (nothing could decode them);
    :attr:`waiting_for_keyframe` tells the caller to ask the sender for one.
    """

    def __init__(self) -> None:
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self._config: bytes | None = None
        self._announced: bytes | None = None
        self._started = False
        self.dropped = 0

    @property
    def waiting_for_keyframe(self) -> bool:
        return not self._started

    def feed(self, data: bytes) -> AccessUnit | None:
        nals = split_annexb(data)
        body: list[bytes] = []
        keyframe = False
        for nal in nals:
            kind = nal[0] & 0x1F
            if kind == NAL_SPS:
                self._sps = nal
            elif kind == NAL_PPS:
                self._pps = nal
            elif kind != NAL_AUD:
                keyframe = keyframe or kind == NAL_IDR
                body.append(nal)
        self._update_config()
        if not body or not self._startable(keyframe):
            self.dropped += 1
            return None
        new_config = None if self._config == self._announced else self._config
        self._announced = self._config
        return AccessUnit(to_avcc(body), keyframe, new_config)

    def _startable(self, keyframe: bool) -> bool:
        if not self._started:
            self._started = keyframe and self._config is not None
        return self._started

    def _update_config(self) -> None:
        if self._sps is not None and self._pps is not None:
            self._config = AvcDecoderConfig.from_parameter_sets(self._sps, self._pps).serialize()

    @property
    def config(self) -> bytes | None:
        return self._config
