"""Money-out webhook events parsed from Stripe's documented shapes (account.updated,
transfer.reversed, payout.failed on a connected account)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.errors import EventError
from payments.events import AccountUpdated, Ignored, PayoutFailed, TransferReversed, parse


def body(type_: str, obj: dict[str, Any], **top: Any) -> bytes:
    raw = {"id": "evt_1", "object": "event", "type": type_, "created": 5, "data": {"object": obj}, **top}
    return json.dumps(raw).encode()


def test_account_updated() -> None:
    obj = {"id": "acct_1", "object": "account", "charges_enabled": True, "payouts_enabled": False,
           "details_submitted": True, "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
                                                        "past_due": ["external_account"]}}
    assert parse(body("account.updated", obj)).payload == AccountUpdated(
        "acct_1", True, False, True, ("external_account", "tos_acceptance.date"))
    assert parse(body("account.updated", {"id": "acct_2", "payouts_enabled": "yes"})).payload == AccountUpdated(
        "acct_2", False, False, False, ())


def test_transfer_reversed_and_payout_failed() -> None:
    tr = {"id": "tr_1", "object": "transfer", "amount": 700, "amount_reversed": 700, "metadata": {"nal_payout": "po_9"}}
    assert parse(body("transfer.reversed", tr)).payload == TransferReversed("tr_1", "po_9", 700, 700)
    assert parse(body("transfer.reversed", {**tr, "metadata": {}})).payload == TransferReversed("tr_1", None, 700, 700)
    po = {"id": "po_bank", "object": "payout", "amount": 700, "failure_code": "account_closed"}
    assert parse(body("payout.failed", po, account="acct_1")).payload == PayoutFailed(
        "po_bank", "acct_1", 700, "account_closed")
    assert parse(body("payout.failed", po)).payload == Ignored("payout.failed")  # the platform's own payout


@pytest.mark.parametrize("type_, obj", [
    ("account.updated", {"object": "account"}),
    ("transfer.reversed", {"id": "tr_1", "amount": -1, "amount_reversed": 0}),
    ("transfer.reversed", {"id": "tr_1", "amount": 5}),
])
def test_bad_money_out_shapes(type_: str, obj: dict[str, Any]) -> None:
    with pytest.raises(EventError):
        parse(body(type_, obj))
