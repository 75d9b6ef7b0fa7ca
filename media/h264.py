"""H.264 helpers: SPS fields, the AVCDecoderConfigurationRecord, AVCC NAL unit framing.

Only what the hub and the fMP4 writer need: the picture size and profile from a sequence
parameter set (ITU-T H.264 section 7.3.2.1.1) and the ``avcC`` record (ISO/IEC 14496-15
section 5.3.3.1). Pure functions; every malformed input raises :class:`CodecConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.errors import CodecConfigError

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8

# profile_idc values whose SPS carries chroma_format_idc and the scaling lists.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00), section 7.4.1."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    """Big-endian bit reader with Exp-Golomb codes (section 9.1)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte_index = self._pos >> 3
        if byte_index >= len(self._data):
            raise CodecConfigError("SPS ends in the middle of a field")
        value = (self._data[byte_index] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise CodecConfigError("Exp-Golomb code longer than 32 bits in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


@dataclass(frozen=True, slots=True)
class Sps:
    """The fields of a sequence parameter set that the hub reports."""

    profile_idc: int
    constraint_flags: int
    level_idc: int
    width: int
    height: int


def _skip_scaling_lists(bits: _Bits, count: int) -> None:
    for index in range(count):
        if not bits.bit():
            continue
        size = 16 if index < 6 else 64
        last, next_scale = 8, 8
        for _ in range(size):
            if next_scale != 0:
                next_scale = (last + bits.se() + 256) % 256
            last = next_scale if next_scale != 0 else last


def _skip_poc_fields(bits: _Bits) -> None:
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()


def parse_sps(nal: bytes) -> Sps:
    """Parse an SPS NAL unit (header byte included) far enough to get the picture size."""
    if len(nal) < 4 or nal[0] & 0x1F != NAL_SPS:
        raise CodecConfigError("not an SPS NAL unit")
    bits = _Bits(unescape_rbsp(nal[1:]))
    profile_idc, constraint_flags, level_idc = bits.bits(8), bits.bits(8), bits.bits(8)
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    separate_colour_plane = 0
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc == 3:
            separate_colour_plane = bits.bit()
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            _skip_scaling_lists(bits, 8 if chroma_format_idc != 3 else 12)
    bits.ue()  # log2_max_frame_num_minus4
    _skip_poc_fields(bits)
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if bits.bit():
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue())
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    crop_x = 1 if chroma_array_type == 0 else (2 if chroma_array_type in (1, 2) else 1)
    crop_y = 1 if chroma_array_type == 0 else (2 if chroma_array_type == 1 else 1)
    crop_y *= 2 - frame_mbs_only
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_map_units * 16 - crop_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise CodecConfigError(f"SPS gives an empty picture ({width}x{height})")
    return Sps(profile_idc, constraint_flags, level_idc, width, height)


@dataclass(frozen=True, slots=True)
class AvcDecoderConfig:
    """AVCDecoderConfigurationRecord, ISO/IEC 14496-15 section 5.3.3.1.

    ``trailer`` keeps the high-profile extension bytes (chroma format, bit depths, SPS
    extensions) verbatim, so ``parse(x).serialize() == x`` for every record we accept.
    """

    profile_idc: int
    profile_compatibility: int
    level_idc: int
    length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    trailer: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> AvcDecoderConfig:
        if len(data) < 7:
            raise CodecConfigError(f"avcC record of {len(data)} bytes is too short")
        if data[0] != 1:
            raise CodecConfigError(f"avcC configurationVersion {data[0]} is not 1")
        length_size = (data[4] & 0x03) + 1
        if length_size == 3:
            raise CodecConfigError("avcC lengthSizeMinusOne of 2 is not allowed")
        pos = 5
        sps, pos = _read_parameter_sets(data, pos, data[5] & 0x1F)
        if pos >= len(data):
            raise CodecConfigError("avcC record ends before numOfPictureParameterSets")
        pps, pos = _read_parameter_sets(data, pos, data[pos])
        if not sps:
            raise CodecConfigError("avcC record has no SPS")
        return cls(data[1], data[2], data[3], length_size, sps, pps, data[pos:])

    @classmethod
    def from_parameter_sets(cls, sps: bytes, pps: bytes) -> AvcDecoderConfig:
        """Build a record with 4-byte NAL lengths from one SPS and one PPS."""
        info = parse_sps(sps)
        return cls(info.profile_idc, info.constraint_flags, info.level_idc, 4, (sps,), (pps,))

    def serialize(self) -> bytes:
        out = bytearray([1, self.profile_idc, self.profile_compatibility, self.level_idc])
        out.append(0xFC | (self.length_size - 1))
        out.append(0xE0 | len(self.sps))
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        return bytes(out) + self.trailer

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``codecs`` value, e.g. ``avc1.64001f``."""
        return f"avc1.{self.profile_idc:02x}{self.profile_compatibility:02x}{self.level_idc:02x}"


def _read_parameter_sets(data: bytes, pos: int, count: int) -> tuple[tuple[bytes, ...], int]:
    sets = []
    pos += 1
    for _ in range(count):
        if pos + 2 > len(data):
            raise CodecConfigError("avcC record ends inside a parameter set length")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + size > len(data):
            raise CodecConfigError("avcC record ends inside a parameter set")
        sets.append(data[pos : pos + size])
        pos += size
    return tuple(sets), pos


def split_avcc(payload: bytes, length_size: int = 4) -> list[bytes]:
    """Split an AVCC access unit (length-prefixed NAL units) into NAL units."""
    nals = []
    pos = 0
    while pos < len(payload):
        if pos + length_size > len(payload):
            raise CodecConfigError("AVCC access unit ends inside a NAL length")
        size = int.from_bytes(payload[pos : pos + length_size], "big")
        pos += length_size
        if pos + size > len(payload):
            raise CodecConfigError("AVCC access unit ends inside a NAL unit")
        nals.append(payload[pos : pos + size])
        pos += size
    return nals
