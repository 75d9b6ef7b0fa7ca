"""Wall-clock milliseconds drawn into a picture and read back after H.264 and LL-HLS.

The stamp is the full 48-bit count of milliseconds since the epoch, most significant bit
first, as two rows of 24 blocks of 48x48 luma pixels in the top left corner of a yuv420p
picture: white (235) for 1, black (16) for 0. Blocks that large survive any sane H.264 rate
control; the reader looks at the middle 16x16 of each block and splits at mid-gray. Below
the stamp a bright bar moves one step per frame so the encoder has motion to code.

Pure byte code (no numpy): a picture is three plane byte strings.
"""

from __future__ import annotations

import time

BITS = 48
COLUMNS = 24
ROWS = BITS // COLUMNS
BLOCK = 48
WHITE, BLACK, GRAY = 235, 16, 128
BAR = 64
STAMP_WIDTH = COLUMNS * BLOCK  # 1152: pictures must be at least this wide
STAMP_HEIGHT = ROWS * BLOCK


def now_ms() -> int:
    return int(time.time() * 1000)


def _stamp_rows(width: int, stamp_ms: int) -> bytes:
    out = bytearray()
    for row in range(ROWS):
        line = bytearray()
        for column in range(COLUMNS):
            bit = BITS - 1 - (row * COLUMNS + column)
            line += bytes([WHITE if (stamp_ms >> bit) & 1 else BLACK]) * BLOCK
        line += bytes([GRAY]) * (width - len(line))
        out += bytes(line) * BLOCK
    return bytes(out)


def picture(width: int, height: int, stamp_ms: int, frame_number: int) -> tuple[bytes, bytes, bytes]:
    """The Y, U and V planes (no padding) of a picture carrying ``stamp_ms``."""
    if width < STAMP_WIDTH or height < STAMP_HEIGHT + 16 or width % 2 or height % 2:
        raise ValueError(f"a {width}x{height} picture cannot hold the stamp")
    x = (frame_number * 8) % (width - BAR)
    body_row = bytes([60]) * x + bytes([200]) * BAR + bytes([60]) * (width - x - BAR)
    luma = _stamp_rows(width, stamp_ms) + body_row * (height - STAMP_HEIGHT)
    chroma = bytes([128]) * (width // 2 * (height // 2))
    return luma, chroma, chroma


def read_stamp(luma: bytes | memoryview, line_size: int) -> int:
    """The stamp :func:`picture` drew, from a decoded luma plane of ``line_size`` bytes a row."""
    value = 0
    for row in range(ROWS):
        for column in range(COLUMNS):
            cx, cy = column * BLOCK + BLOCK // 2, row * BLOCK + BLOCK // 2
            total = 0
            for y in range(cy - 8, cy + 8, 4):
                base = y * line_size
                total += sum(luma[base + cx - 8 : base + cx + 8 : 4])
            value = (value << 1) | (1 if total > GRAY * 16 else 0)
    return value


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]
