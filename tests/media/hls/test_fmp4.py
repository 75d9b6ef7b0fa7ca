"""fMP4 boxes both ways against literal bytes, truncated prefixes, and fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from media.hls.errors import BoxError, MalformedBox, TruncatedBox, UnsupportedTrack
from media.hls.fmp4 import (
    Box,
    Sample,
    TrackRun,
    _esds,
    fragment,
    init_segment,
    parse_box,
    parse_boxes,
    parse_tfdt,
    parse_trun,
)
from media.units import Codec, Track, TrackKind
from tests.media.test_hub_codecs import AVCC_720P_HIGH, OPUS_HEAD

FRAGMENT = bytes.fromhex(
    "00000078 6d6f6f66"  # moof, 120 bytes
    "00000010 6d666864 00000000 00000007"  # mfhd: sequence 7
    "00000060 74726166"  # traf
    "00000010 74666864 00020000 00000001"  # tfhd: default-base-is-moof, track 1
    "00000014 74666474 01000000 00000000 00015f90"  # tfdt v1: 90000
    "00000034 7472756e 01000f01 00000002 00000080"  # trun v1: 2 samples, data at 128
    "00000bb8 00000004 02000000 00001770"  # 3000 ticks, 4 bytes, sync, cto +6000
    "00000bb8 00000002 01010000 fffff448"  # 3000 ticks, 2 bytes, non-sync, cto -3000
    "0000000e 6d646174 616263646566"  # mdat "abcdef"
)
RUN = TrackRun(1, 90000, (Sample(3000, 4, True, 6000), Sample(3000, 2, False, -3000)), b"abcdef")
ESDS_44K_MONO = bytes.fromhex(
    "00000027 65736473 00000000"
    "03 19 0001 00"  # ES_Descriptor, ES_ID 1
    "04 11 40 15 000000 00000000 00000000"  # DecoderConfig: AAC, audio stream
    "05 02 1208"  # DecoderSpecificInfo: the AudioSpecificConfig
    "06 01 02"  # SLConfig
)


def test_fragment_writes_the_literal_bytes() -> None:
    assert fragment(7, [RUN]) == FRAGMENT


def test_fragment_parses_back() -> None:
    moof, mdat = parse_boxes(FRAGMENT)
    assert (moof.type, mdat.type, mdat.payload) == ("moof", "mdat", b"abcdef")
    assert moof.find("mfhd").payload == bytes.fromhex("00000000 00000007")
    assert parse_tfdt(moof.find("traf/tfdt").payload) == 90000
    offset, samples = parse_trun(moof.find("traf/trun").payload)
    assert offset == 128 and tuple(samples) == RUN.samples
    assert FRAGMENT[offset : offset + 6] == b"abcdef"
    assert b"".join(box.serialize() for box in (moof, mdat)) == FRAGMENT


def test_esds_literal_bytes() -> None:
    assert _esds(bytes.fromhex("1208")) == ESDS_44K_MONO
    (parsed,) = parse_boxes(ESDS_44K_MONO)
    assert parsed.type == "esds" and parsed.payload.endswith(bytes.fromhex("05021208060102"))


def test_every_truncated_prefix_raises_truncated_box() -> None:
    for cut in range(1, len(FRAGMENT)):
        data = FRAGMENT[:cut]
        if cut == 120:  # exactly the moof: a complete box, then nothing
            assert [b.type for b in parse_boxes(data)] == ["moof"]
            continue
        with pytest.raises(TruncatedBox):
            parse_boxes(data)
    for cut in range(1, 120):
        with pytest.raises(TruncatedBox):
            parse_box(FRAGMENT[:cut])


def test_parser_header_forms() -> None:
    large = struct.pack(">I4sQ", 1, b"free", 19) + b"abc"
    assert parse_box(large) == (Box("free", b"abc"), 19)
    to_end = struct.pack(">I4s", 0, b"mdat") + b"xyz"
    assert parse_box(to_end) == (Box("mdat", b"xyz"), 11)
    with pytest.raises(MalformedBox):
        parse_box(struct.pack(">I4s", 4, b"free"))
    with pytest.raises(MalformedBox):
        parse_box(struct.pack(">I4sQ", 1, b"free", 8))
    with pytest.raises(TruncatedBox):
        parse_box(struct.pack(">I4s", 1, b"free") + b"\0\0")
    with pytest.raises(TruncatedBox):
        parse_trun(bytes.fromhex("01000f01 00000002 00000080") + bytes(16))
    with pytest.raises(MalformedBox):
        parse_trun(bytes.fromhex("00000001 00000000 00000000"))


@given(st.binary(max_size=80))
def test_parser_fuzz_only_named_errors(data: bytes) -> None:
    try:
        boxes = parse_boxes(data)
    except BoxError:
        return
    for parsed in boxes:
        if parsed.type in ("moof", "traf", "moov"):
            try:
                parsed.children()
            except BoxError:
                pass


samples_strategy = st.lists(
    st.tuples(
        st.integers(0, 2**32 - 1),
        st.integers(0, 64),
        st.booleans(),
        st.integers(-(2**31), 2**31 - 1),
    ),
    min_size=1,
    max_size=8,
)


@given(samples_strategy, st.integers(0, 2**64 - 1), st.integers(1, 2**32 - 1))
def test_fragment_round_trip(
    raw: list[tuple[int, int, bool, int]], decode_time: int, sequence: int
) -> None:
    samples = tuple(Sample(d, s, k, c) for d, s, k, c in raw)
    data = bytes(range(256)) * 2
    run = TrackRun(3, decode_time, samples, data[: sum(s.size for s in samples)])
    moof, mdat = parse_boxes(fragment(sequence, [run]))
    offset, parsed = parse_trun(moof.find("traf/trun").payload)
    assert tuple(parsed) == samples and parse_tfdt(moof.find("traf/tfdt").payload) == decode_time
    assert mdat.payload == run.data and offset == 8 + len(moof.payload) + 8


def test_init_segment_structure() -> None:
    video = Track.h264(1, AVCC_720P_HIGH)
    audio = Track.aac(2, bytes.fromhex("1208"))
    ftyp, moov = parse_boxes(init_segment([video, audio]))
    assert ftyp.type == "ftyp" and ftyp.payload[:4] == b"iso6"
    traks = moov.find_all("trak")
    assert len(traks) == 2 and len(moov.find("mvex").find_all("trex")) == 2
    mdhd = traks[0].find("mdia/mdhd").payload
    assert struct.unpack_from(">I", mdhd, 12)[0] == 90000
    assert struct.unpack_from(">I", traks[1].find("mdia/mdhd").payload, 12)[0] == 44100
    stsd = traks[0].find("mdia/minf/stbl/stsd").payload
    avc1 = parse_boxes(stsd[8:])[0]
    assert avc1.type == "avc1" and struct.unpack_from(">HH", avc1.payload, 24) == (1280, 720)
    assert parse_boxes(avc1.payload[78:]) == [Box("avcC", AVCC_720P_HIGH)]
    mp4a = parse_boxes(traks[1].find("mdia/minf/stbl/stsd").payload[8:])[0]
    assert mp4a.type == "mp4a" and mp4a.payload[28:].startswith(ESDS_44K_MONO)
    assert traks[0].find("mdia/hdlr").payload[8:12] == b"vide"
    assert traks[1].find("mdia/minf/smhd").type == "smhd"


def test_init_segment_opus_and_unsupported() -> None:
    opus = Track.opus(2, OPUS_HEAD)
    _, moov = parse_boxes(init_segment([opus]))
    entry = parse_boxes(moov.find("trak/mdia/minf/stbl/stsd").payload[8:])[0]
    assert entry.type == "Opus"
    (dops,) = parse_boxes(entry.payload[28:])
    assert dops == Box("dOps", bytes.fromhex("00 02 0138 0000bb80 0000 00"))
    hevc = Track(1, TrackKind.VIDEO, Codec.HEVC, b"", "hvc1")
    with pytest.raises(UnsupportedTrack):
        init_segment([hevc])
