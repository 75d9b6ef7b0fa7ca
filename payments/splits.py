"""Split arithmetic: basis points in, exact integer shares out.

Rules (DESIGN.md, money model):

- A split sheet's shares are in basis points and sum to exactly 10,000.
- Each share is ``floor(total * weight / sum(weights))``; the leftover minor units (fewer
  than the number of shares) go out one each in the sheet's own order, first share first.
  So a split always sums exactly to its total, and the same input always gives the same output.
- Negative totals (reversals) are split as their absolute value and negated, so a reversal
  of a split is the exact negation of the split.

Pure functions only: no I/O, no clocks, no floats.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from payments.errors import InvalidSplit

TOTAL_BPS = 10_000


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to non-negative integer ``weights``; the parts sum to ``total``.

    Leftover units go one each to the weights in order, skipping zero weights, so a zero weight
    always gets zero.
    """
    if not weights:
        raise InvalidSplit("nothing to split across")
    if any(w < 0 for w in weights):
        raise InvalidSplit("weights must not be negative")
    whole = sum(weights)
    if whole == 0:
        raise InvalidSplit("weights sum to zero")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = [magnitude * w // whole for w in weights]
    leftover = magnitude - sum(parts)
    order = [i for i, w in enumerate(weights) if w > 0]
    for n in range(leftover):
        parts[order[n % len(order)]] += 1
    return [sign * p for p in parts]


class Role(enum.Enum):
    """What a share is for; recoupment reads it (DESIGN.md: recoup from the artist's share only)."""

    ARTIST = "artist"
    BAND = "band"
    SONGWRITER = "songwriter"
    PUBLISHER = "publisher"


@dataclass(frozen=True)
class Share:
    """One line of a split sheet. ``ipi`` and ``pro`` matter for songwriters and publishers."""

    party: str
    bps: int
    role: Role = Role.BAND
    name: str = ""
    ipi: str = ""
    pro: str = ""

    def canonical(self) -> list[object]:
        return [self.party, self.bps, self.role.value, self.name, self.ipi, self.pro]


@dataclass(frozen=True)
class SplitSheet:
    """Shares in basis points summing to 10,000, per room or show, or per song."""

    shares: tuple[Share, ...]

    def __post_init__(self) -> None:
        if not self.shares:
            raise InvalidSplit("a split sheet needs at least one share")
        parties = [s.party for s in self.shares]
        if len(set(parties)) != len(parties):
            raise InvalidSplit(f"duplicate party in split sheet: {parties}")
        if any(not s.party for s in self.shares):
            raise InvalidSplit("every share needs a party")
        if any(s.bps < 0 or s.bps > TOTAL_BPS for s in self.shares):
            raise InvalidSplit("each share must be between 0 and 10,000 basis points")
        total = sum(s.bps for s in self.shares)
        if total != TOTAL_BPS:
            raise InvalidSplit(f"shares sum to {total} basis points, not {TOTAL_BPS}")

    def split(self, total: int) -> list[int]:
        """``total`` split by this sheet; the parts line up with ``shares`` and sum to ``total``."""
        return allocate(total, [s.bps for s in self.shares])

    def canonical(self) -> list[object]:
        return [s.canonical() for s in self.shares]


def bps_of(total: int, bps: int) -> int:
    """``bps`` basis points of ``total``, floored toward zero (the remainder stays with the payer)."""
    if not 0 <= bps <= TOTAL_BPS:
        raise InvalidSplit(f"basis points out of range: {bps}")
    sign = -1 if total < 0 else 1
    return sign * (abs(total) * bps // TOTAL_BPS)
