"""Split arithmetic: exact totals, floors, leftovers in sheet order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.errors import InvalidSplit
from payments.splits import Role, Share, SplitSheet, allocate, bps_of


def test_leftover_goes_in_sheet_order() -> None:
    sheet = SplitSheet((Share("a", 3_334), Share("b", 3_333), Share("c", 3_333)))
    assert sheet.split(100) == [34, 33, 33]
    assert sheet.split(2) == [1, 1, 0]
    assert sheet.split(-2) == [-1, -1, 0]


def test_allocate_exact_when_total_equals_weights() -> None:
    assert allocate(841, [505, 210, 126]) == [505, 210, 126]


def test_zero_weight_gets_nothing() -> None:
    assert allocate(5, [0, 1, 1]) == [0, 3, 2]


@pytest.mark.parametrize(
    "shares",
    [
        (),
        (Share("a", 5_000), Share("b", 4_999)),
        (Share("a", 5_000), Share("a", 5_000)),
        (Share("a", 10_001), Share("b", -1)),
        (Share("", 10_000),),
    ],
)
def test_bad_sheets_are_refused(shares: tuple[Share, ...]) -> None:
    with pytest.raises(InvalidSplit):
        SplitSheet(shares)


def test_bps_of_floors() -> None:
    assert bps_of(999, 1_000) == 99
    assert bps_of(-999, 1_000) == -99


@st.composite
def sheets(draw: st.DrawFn) -> SplitSheet:
    n = draw(st.integers(1, 8))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10_000]
    bps = [bounds[i + 1] - bounds[i] for i in range(n)]
    return SplitSheet(tuple(Share(f"p{i}", b, Role.BAND) for i, b in enumerate(bps)))


@given(sheets(), st.integers(-(10**15), 10**15))
def test_split_sums_exactly_to_total(sheet: SplitSheet, total: int) -> None:
    parts = sheet.split(total)
    assert sum(parts) == total
    for share, part in zip(sheet.shares, parts, strict=True):
        exact = abs(total) * share.bps // 10_000
        assert exact <= abs(part) <= exact + 1


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20).filter(any), st.integers(-(10**12), 10**12))
def test_allocate_sums_exactly(weights: list[int], total: int) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p == 0 for p, w in zip(parts, weights, strict=True) if w == 0)
