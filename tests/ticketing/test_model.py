"""The pure rules of ticketing.model."""

from __future__ import annotations

import pytest

from ticketing.errors import BadPrice, InvalidTier, OffSale, SoldOut
from ticketing.model import Show, Tier


def tier(**kw: object) -> Tier:
    return Tier(id="t", show_id="s", name="GA", **{"price": 1000, **kw})  # type: ignore[arg-type]


def test_fixed_price_takes_no_other_amount() -> None:
    assert tier().amount_for(None) == 1000
    assert tier().amount_for(1000) == 1000
    with pytest.raises(BadPrice):
        tier().amount_for(999)


def test_pay_what_you_want_has_a_floor_and_a_suggestion() -> None:
    pwyw = tier(price=1500, min_price=500)
    assert pwyw.amount_for(None) == 1500
    assert pwyw.amount_for(500) == 500
    assert pwyw.amount_for(9000) == 9000
    with pytest.raises(BadPrice):
        pwyw.amount_for(499)


@pytest.mark.parametrize("kw", [{"price": -1}, {"min_price": 0}, {"min_price": 2000}, {"quantity": -1},
                                {"latency_class": "fast"}, {"sales_start": 10.0, "sales_end": 5.0}])
def test_impossible_tiers_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(InvalidTier):
        tier(**kw).check()


def test_remaining_counts_tickets_and_live_holds() -> None:
    assert tier(quantity=10).remaining(3, 4) == 3
    assert tier(quantity=10).remaining(8, 4) == 0
    assert tier().remaining(10**6, 10**6) is None


def test_sellable_needs_a_window_and_a_seat() -> None:
    t = tier(quantity=1, sales_start=100.0, sales_end=200.0)
    with pytest.raises(OffSale):
        t.check_sellable(99.0, 0, 0)
    with pytest.raises(OffSale):
        t.check_sellable(200.0, 0, 0)
    t.check_sellable(150.0, 0, 0)
    with pytest.raises(SoldOut):
        t.check_sellable(150.0, 0, 1)


def test_show_ends_after_it_starts() -> None:
    with pytest.raises(InvalidTier):
        Show("s", 1, "r", "T", 100.0, 100.0, "USD", 0).check()
    assert Show("s", 1, "r", "T", 100.0, 200.0, "USD", 0).over(200.0)
