"""A pure ISO BMFF (fMP4, CMAF) box writer, and a small box parser for tests and tools.

Writes the init segment (``ftyp`` + ``moov`` with empty sample tables and ``mvex``/``trex``,
ISO/IEC 14496-12 section 8) and fragments (``moof`` with one ``traf`` per track:
``tfhd`` with default-base-is-moof, ``tfdt`` version 1, ``trun`` version 1 with per-sample
duration, size, flags and signed composition offsets; then one ``mdat``). Sample entries:
``avc1`` + ``avcC`` (ISO/IEC 14496-15), ``mp4a`` + ``esds`` (ISO/IEC 14496-14), ``Opus`` +
``dOps`` (Opus in ISOBMFF, section 4.3).

Timescales: video tracks use 90 kHz (the hub clock); audio tracks use their sample rate.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from media.audio import OpusHead
from media.hls.errors import MalformedBox, TruncatedBox, UnsupportedTrack
from media.units import CLOCK_RATE, Codec, Track, TrackKind

SYNC_SAMPLE_FLAGS = 0x02000000  # sample_depends_on = 2 (does not depend on others)
NON_SYNC_SAMPLE_FLAGS = 0x01010000  # sample_depends_on = 1, sample_is_non_sync_sample = 1

_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def timescale(track: Track) -> int:
    return CLOCK_RATE if track.kind is TrackKind.VIDEO else track.sample_rate


# -- init segment ----------------------------------------------------------------------


def init_segment(tracks: Sequence[Track]) -> bytes:
    """``ftyp`` + ``moov`` for ``tracks`` (fMP4 track IDs are the hub's track ids)."""
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6", b"cmfc", b"mp41", b"dash")
    next_id = max((t.id for t in tracks), default=0) + 1
    mvhd = full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x10000, 0x0100), bytes(10), _MATRIX,
        bytes(24), struct.pack(">I", next_id),
    )  # fmt: skip
    traks = b"".join(_trak(track) for track in tracks)
    trexs = b"".join(
        full_box(b"trex", 0, 0, struct.pack(">IIIII", t.id, 1, 0, 0, 0)) for t in tracks
    )
    return ftyp + box(b"moov", mvhd, traks, box(b"mvex", trexs))


def _trak(track: Track) -> bytes:
    video = track.kind is TrackKind.VIDEO
    tkhd = full_box(
        b"tkhd", 0, 0x000003,
        struct.pack(">IIIII", 0, 0, track.id, 0, 0), bytes(8),
        struct.pack(">hhHH", 0, 0, 0 if video else 0x0100, 0), _MATRIX,
        struct.pack(">II", track.width << 16, track.height << 16),
    )  # fmt: skip
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale(track), 0, 0x55C4, 0))
    handler = b"vide" if video else b"soun"
    name = b"VideoHandler\0" if video else b"SoundHandler\0"
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), handler, bytes(12), name)
    media_header = full_box(b"vmhd", 0, 1, bytes(8)) if video else full_box(b"smhd", 0, 0, bytes(4))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), _sample_entry(track)),
        full_box(b"stts", 0, 0, bytes(4)),
        full_box(b"stsc", 0, 0, bytes(4)),
        full_box(b"stsz", 0, 0, bytes(8)),
        full_box(b"stco", 0, 0, bytes(4)),
    )
    minf = box(b"minf", media_header, dinf, stbl)
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def _sample_entry(track: Track) -> bytes:
    if track.codec is Codec.H264:
        return box(
            b"avc1", bytes(6), struct.pack(">H", 1), bytes(16),
            struct.pack(">HHIIIH", track.width, track.height, 0x480000, 0x480000, 0, 1),
            bytes(32), struct.pack(">Hh", 0x0018, -1), box(b"avcC", track.config),
        )  # fmt: skip
    if track.codec is Codec.AAC:
        return _audio_entry(b"mp4a", track, _esds(track.config))
    if track.codec is Codec.OPUS:
        return _audio_entry(b"Opus", track, _dops(track.config))
    raise UnsupportedTrack(f"no fMP4 sample entry for {track.codec}")


def _audio_entry(kind: bytes, track: Track, config_box: bytes) -> bytes:
    rate = track.sample_rate if track.sample_rate < 0x10000 else 0
    return box(
        kind, bytes(6), struct.pack(">H", 1), bytes(8),
        struct.pack(">HHHHI", track.channels or 2, 16, 0, 0, rate << 16), config_box,
    )  # fmt: skip


def _descriptor(tag: int, payload: bytes) -> bytes:
    size = len(payload)
    length = bytes([0x80 | (size >> 21) & 0x7F, 0x80 | (size >> 14) & 0x7F,
                    0x80 | (size >> 7) & 0x7F, size & 0x7F])  # fmt: skip
    return bytes([tag]) + (bytes([size]) if size < 0x80 else length) + payload


def _esds(audio_specific_config: bytes) -> bytes:
    decoder_config = _descriptor(
        0x04,
        struct.pack(">BBBHII", 0x40, 0x15, 0, 0, 0, 0) + _descriptor(0x05, audio_specific_config),
    )
    es = _descriptor(0x03, struct.pack(">HB", 1, 0) + decoder_config + _descriptor(0x06, b"\x02"))
    return full_box(b"esds", 0, 0, es)


def _dops(opus_head: bytes) -> bytes:
    head = OpusHead.parse(opus_head)
    body = struct.pack(
        ">BBHIhB", 0, head.channels, head.pre_skip, head.input_sample_rate, head.output_gain,
        head.mapping_family,
    ) + (head.mapping_table if head.mapping_family else b"")  # fmt: skip
    return box(b"dOps", body)


# -- fragments ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample of a ``trun``: duration and composition offset in the track timescale."""

    duration: int
    size: int
    keyframe: bool
    composition_offset: int = 0

    @property
    def flags(self) -> int:
        return SYNC_SAMPLE_FLAGS if self.keyframe else NON_SYNC_SAMPLE_FLAGS


@dataclass(frozen=True, slots=True)
class TrackRun:
    """The samples of one track in one fragment, and their bytes back to back."""

    track_id: int
    base_decode_time: int
    samples: tuple[Sample, ...]
    data: bytes


def fragment(sequence_number: int, runs: Sequence[TrackRun]) -> bytes:
    """``moof`` + ``mdat`` holding ``runs`` in order (each run's data contiguous)."""
    # The trun data offsets depend on the moof size, which does not depend on the offsets.
    moof_size = len(_moof(sequence_number, runs, [0] * len(runs)))
    offsets, position = [], moof_size + 8
    for run in runs:
        offsets.append(position)
        position += len(run.data)
    moof = _moof(sequence_number, runs, offsets)
    return moof + box(b"mdat", *(run.data for run in runs))


def _moof(sequence_number: int, runs: Sequence[TrackRun], offsets: list[int]) -> bytes:
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence_number))
    trafs = [_traf(run, offset) for run, offset in zip(runs, offsets, strict=True)]
    return box(b"moof", mfhd, *trafs)


def _traf(run: TrackRun, data_offset: int) -> bytes:
    tfhd = full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", run.track_id))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", run.base_decode_time))
    entries = b"".join(
        struct.pack(">IIIi", s.duration, s.size, s.flags, s.composition_offset) for s in run.samples
    )
    trun = full_box(
        b"trun", 1, _TRUN_FLAGS, struct.pack(">Ii", len(run.samples), data_offset), entries
    )
    return box(b"traf", tfhd, tfdt, trun)


# -- parser (tests and tools) -------------------------------------------------------------

CONTAINERS = frozenset(
    {"moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf", "edts", "udta"}
)


@dataclass(frozen=True, slots=True)
class Box:
    """One parsed box: its four-character type and its payload (header excluded)."""

    type: str
    payload: bytes

    def serialize(self) -> bytes:
        return box(self.type.encode("latin-1"), self.payload)

    def children(self) -> list[Box]:
        return parse_boxes(self.payload)

    def find(self, path: str) -> Box:
        """The first descendant at ``path`` (``"trak/mdia/mdhd"``); KeyError if absent."""
        head, _, rest = path.partition("/")
        for child in self.children():
            if child.type == head:
                return child.find(rest) if rest else child
        raise KeyError(path)

    def find_all(self, kind: str) -> list[Box]:
        return [child for child in self.children() if child.type == kind]


def parse_box(data: bytes, offset: int = 0) -> tuple[Box, int]:
    """Parse the box at ``offset``; returns it and the offset just after it."""
    available = len(data) - offset
    if available < 8:
        raise TruncatedBox(f"{available} bytes left at offset {offset}, a box header needs 8")
    size, kind = struct.unpack_from(">I4s", data, offset)
    header = 8
    if size == 1:
        if available < 16:
            raise TruncatedBox(f"box at offset {offset} ends inside its 64-bit size")
        (size,) = struct.unpack_from(">Q", data, offset + 8)
        header = 16
    elif size == 0:
        size = available
    if size < header:
        raise MalformedBox(f"box at offset {offset} declares size {size} < header {header}")
    if size > available:
        raise TruncatedBox(f"box {kind!r} at offset {offset} needs {size} bytes, {available} left")
    end = offset + size
    return Box(kind.decode("latin-1"), data[offset + header : end]), end


def parse_boxes(data: bytes) -> list[Box]:
    """Parse a sequence of boxes that must fill ``data`` exactly."""
    boxes, offset = [], 0
    while offset < len(data):
        parsed, offset = parse_box(data, offset)
        boxes.append(parsed)
    return boxes


def parse_tfdt(payload: bytes) -> int:
    """Base media decode time from a ``tfdt`` payload."""
    if len(payload) < 8:
        raise TruncatedBox("tfdt payload too short")
    if payload[0] == 1:
        if len(payload) < 12:
            raise TruncatedBox("tfdt v1 payload too short")
        return int(struct.unpack_from(">Q", payload, 4)[0])
    return int(struct.unpack_from(">I", payload, 4)[0])


def parse_trun(payload: bytes) -> tuple[int, list[Sample]]:
    """(data offset, samples) from a ``trun`` payload written by :func:`fragment`."""
    if len(payload) < 12:
        raise TruncatedBox("trun payload too short")
    version_flags, count, data_offset = struct.unpack_from(">IIi", payload)
    if version_flags & 0xFFFFFF != _TRUN_FLAGS:
        raise MalformedBox(f"trun flags {version_flags & 0xFFFFFF:#x} are not ours")
    if len(payload) < 12 + 16 * count:
        raise TruncatedBox(f"trun declares {count} samples, payload holds fewer")
    signed = "i" if version_flags >> 24 else "I"
    samples = []
    for index in range(count):
        duration, size, flags, offset = struct.unpack_from(
            ">III" + signed, payload, 12 + 16 * index
        )
        samples.append(Sample(duration, size, flags == SYNC_SAMPLE_FLAGS, offset))
    return data_offset, samples
