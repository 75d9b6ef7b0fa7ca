"""The frame-timecode method: the sender draws its wall-clock time into the picture, the
receiver decodes the picture and reads it back; the difference is glass-to-glass latency.

The time (milliseconds, low 40 bits) is drawn as 40 blocks of 16x16 luma pixels across the
top of a YUV 4:2:0 frame, white for 1 and black for 0. Sixteen-pixel blocks survive H.264 at
any sane bit rate. Pure byte code, no numpy.
"""

from __future__ import annotations

import time

BITS = 40
BLOCK = 16
WIDTH = BITS * BLOCK  # 640
WHITE, BLACK, GRAY = 235, 16, 128


def now_ms() -> int:
    return int(time.time() * 1000) & ((1 << BITS) - 1)


def yuv420_frame(width: int, height: int, stamp_ms: int, shade: int = 0) -> bytes:
    """A yuv420p picture (planes concatenated) carrying ``stamp_ms`` in its top rows."""
    row = bytearray()
    for bit in range(BITS):
        value = WHITE if (stamp_ms >> (BITS - 1 - bit)) & 1 else BLACK
        row += bytes([value]) * BLOCK
    row += bytes([GRAY]) * (width - len(row))
    body = bytes([(64 + shade) & 0xFF]) * (width * (height - BLOCK))
    chroma = bytes([128]) * (width * height // 2)
    return bytes(row) * BLOCK + body + chroma


def read_stamp(luma: bytes, line_size: int) -> int:
    """The stamp drawn by :func:`yuv420_frame`, read from the luma plane."""
    y = BLOCK // 2
    value = 0
    for bit in range(BITS):
        x = bit * BLOCK + BLOCK // 2
        value = (value << 1) | (1 if luma[y * line_size + x] > GRAY else 0)
    return value


def latency_ms(stamp: int) -> int:
    """Now minus ``stamp``, modulo the 40-bit wrap."""
    return (now_ms() - stamp) % (1 << BITS)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]
