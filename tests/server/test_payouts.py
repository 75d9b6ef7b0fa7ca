"""Money out against the Stripe double with signed webhooks, on both databases: payout
accounts (controller properties, account links, ``account.updated``), settlement of tips
split between a performer and two band members (transfers, groups, idempotency keys),
``transfer.reversed`` and ``payout.failed``, a refused transfer, and every balance exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from payments.reversals import Refund
from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from tests.server.test_webhooks import event
from tests.support.money import Running, running
from tests.support.stripe_double import StripeDouble, stripe_double

SECRET = "whsec_test_payouts"


def stripe(double: StripeDouble) -> dict[str, Any]:
    return {"payments": "stripe", "stripe_secret_key": "sk_test_double", "stripe_webhook_secret": SECRET,
            "stripe_api_base": double.url, "payout_hold_s": 0.0, "payout_claim_s": 0.0}


async def user(srv: Running, name: str) -> tuple[dict[str, str], str]:
    headers, _ = await srv.signup(name)
    me = await (await srv.http.get("/api/me", headers=headers)).json()
    return headers, f"user:{me['id']}"


async def onboard(srv: Running, double: StripeDouble, headers: dict[str, str]) -> str:
    r = await srv.http.post("/api/me/payout-account", headers=headers)
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["ready"] is False and body["requirements_due"] == ["external_account"]
    assert body["onboarding_url"].startswith("https://connect.stripe.com/setup/e/")
    acct: str = body["account"]["id"]
    ready = event("account.updated", {"id": acct, "object": "account", "charges_enabled": True,
                                      "payouts_enabled": True, "details_submitted": True,
                                      "requirements": {"currently_due": [], "past_due": []}})
    assert (await srv.webhook(ready, secret=SECRET)).status == 200
    return acct


async def test_stripe_accounts_settlement_reversal_and_failed_payout(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(tmp_path, database_url, **stripe(double)) as srv:
        perf, p_perf = await user(srv, "perf")
        bass, p_bass = await user(srv, "bass")
        drum, p_drum = await user(srv, "drum")
        r = await srv.http.get("/api/me/payout-account", headers=perf)
        assert (await r.json())["reason"] == "no payout account"

        # Onboarding: controller properties, an account link, a refresh that mints a new one.
        acct_perf = await onboard(srv, double, perf)
        [created] = double.of("POST", "/v1/accounts")
        f = created.form
        assert (f["controller[stripe_dashboard][type]"], f["controller[fees][payer]"],
                f["controller[losses][payments]"], f["controller[requirement_collection]"]) == (
            "express", "application", "application", "stripe")
        assert f["capabilities[transfers][requested]"] == "true" and "type" not in f
        assert created.headers["Idempotency-Key"] == f"payout-account:{p_perf}"
        [link] = double.of("POST", "/v1/account_links")
        assert link.form["type"] == "account_onboarding"
        assert link.form["refresh_url"] == srv.url + "/api/me/payout-account/refresh"
        assert link.form["return_url"] == srv.url + "/earnings?onboarding=done"
        assert (await (await srv.http.get("/api/me/payout-account", headers=perf)).json())["ready"] is True
        acct_bass = await onboard(srv, double, bass)
        acct_drum = await onboard(srv, double, drum)
        r = await srv.http.get("/api/me/payout-account/refresh", headers=bass, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/earnings?onboarding=done"  # ready: no new link
        # An older account.updated delivered late changes nothing.
        stale = event("account.updated", {"id": acct_bass, "object": "account", "payouts_enabled": False})
        stale["created"] -= 3600
        assert (await srv.webhook(stale, secret=SECRET)).status == 200
        assert (await (await srv.http.get("/api/me/payout-account", headers=bass)).json())["ready"] is True

        # Two tips split 60/25/15, booked through Stripe.
        sheet = SplitSheet((Share(p_perf, 6_000, Role.ARTIST), Share(p_bass, 2_500, Role.BAND),
                            Share(p_drum, 1_500, Role.BAND)))
        for i in range(2):
            tip = Revenue(gross=1_000, currency="USD", sheet=sheet, fee=59, processor="stripe", room="jazz")
            await srv.services.ledger.record_tip(f"tip-{i}", tip)
        earned = {p: (await srv.balances(p))["earnings"] for p in (p_perf, p_bass, p_drum)}
        assert sum(earned.values()) == 2 * (1_000 - 59 - 100)

        report = await srv.services.settlement.run()
        assert not report.pending and not report.failed and len(report.sent) == 3
        transfers = double.of("POST", "/v1/transfers")
        by_dest = {t.form["destination"]: t for t in transfers}
        for acct, party in ((acct_perf, p_perf), (acct_bass, p_bass), (acct_drum, p_drum)):
            sent = by_dest[acct]
            [row] = [p for p in report.sent if p.party == party]
            assert int(sent.form["amount"]) == earned[party] == row.amount
            assert sent.form["currency"] == "usd" and sent.form["metadata[nal_payout]"] == row.id
            assert sent.headers["Idempotency-Key"] == f"payout:{row.id}"
            assert sent.form["transfer_group"] == row.transfer_group
            assert row.transfer_group.startswith("settlement:")
            assert (await srv.balances(party))["earnings"] == 0
        await srv.ledger_ok()
        assert (await srv.services.settlement.run()).sent == []  # nothing more to move

        # The bassist's transfer is reversed, the drummer's bank payout fails: both money back.
        [bass_row] = [p for p in report.sent if p.party == p_bass]
        [drum_row] = [p for p in report.sent if p.party == p_drum]
        rev = event("transfer.reversed", {"id": bass_row.transfer_id, "object": "transfer",
                                          "amount": bass_row.amount, "amount_reversed": bass_row.amount,
                                          "metadata": {"nal_payout": bass_row.id}})
        failed = event("payout.failed", {"id": "po_bank_1", "object": "payout", "amount": drum_row.amount,
                                         "failure_code": "account_closed"})
        failed["account"] = acct_drum
        for _ in range(2):  # redelivered: applied once
            assert (await srv.webhook(rev, secret=SECRET)).status == 200
            assert (await srv.webhook(failed, secret=SECRET)).status == 200
        assert (await srv.balances(p_bass))["earnings"] == earned[p_bass]
        assert (await srv.balances(p_drum))["earnings"] == earned[p_drum]
        states = {p.party: p.state for p in await srv.services.settlement.payouts()}
        assert states == {p_perf: "paid", p_bass: "returned", p_drum: "returned"}
        await srv.ledger_ok()

        # The drummer's destination is now refused: that payout fails, the money stays theirs.
        double.refuse_destinations.add(acct_drum)
        again = await srv.services.settlement.run()
        assert [p.party for p in again.sent] == [p_bass] and [p.party for p in again.failed] == [p_drum]
        assert "No such destination" in again.failed[0].error
        assert (await srv.balances(p_bass))["earnings"] == 0
        assert (await srv.balances(p_drum))["earnings"] == earned[p_drum]
        status = {s.party: s for s in await srv.services.settlement.standings()}
        assert status[p_drum].available == earned[p_drum]
        await srv.ledger_ok()

        # A refund after settlement: the performer's share of it is owed back (negative
        # earnings), the next run moves nothing for them, and a later tip pays that back first.
        await srv.services.ledger.record_refund("refund-0", Refund("tip-0", 1_000, "after settlement"))
        owed = (await srv.balances(p_perf))["earnings"]
        assert owed < 0
        assert p_perf not in {p.party for p in (await srv.services.settlement.run()).requested}
        tip = Revenue(gross=2_000, currency="USD", sheet=sheet, fee=88, processor="stripe", room="jazz")
        await srv.services.ledger.record_tip("tip-late", tip)
        after = (await srv.balances(p_perf))["earnings"]
        [late] = [p for p in (await srv.services.settlement.run()).sent if p.party == p_perf]
        assert late.amount == after and after < (2_000 - 88 - 200) * 6_000 // 10_000
        await srv.ledger_ok()


async def test_a_party_without_a_ready_account_keeps_accruing(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(tmp_path, database_url, **stripe(double)) as srv:
        perf, p_perf = await user(srv, "perf")
        _, p_bass = await user(srv, "bass")
        r = await srv.http.post("/api/me/payout-account", headers=perf)
        assert r.status == 201
        sheet = SplitSheet((Share(p_perf, 5_000, Role.ARTIST), Share(p_bass, 5_000, Role.BAND)))
        await srv.services.ledger.record_tip("t", Revenue(gross=1_000, currency="USD", sheet=sheet, processor="stripe"))
        report = await srv.services.settlement.run()
        assert report.sent == [] and double.of("POST", "/v1/transfers") == []
        why = {s.party: s.reason for s in report.standings}
        assert why[p_bass] == "no payout account"
        assert why[p_perf].startswith("onboarding not finished: external_account")
        assert (await srv.balances(p_perf))["earnings"] == 450
        # A fresh link when the old one expired; the answer is a redirect, never a body with it.
        r = await srv.http.get("/api/me/payout-account/refresh", headers=perf, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("https://connect.stripe.com/setup/e/")
        assert len(double.of("POST", "/v1/account_links")) == 2
        r = await srv.http.post("/api/me/payout-account", headers=perf)
        assert r.status == 200 and len(double.of("POST", "/v1/accounts")) == 1
        assert (await srv.http.get("/api/me/payout-account")).status == 401
        assert (await srv.http.post("/api/me/payout-account")).status == 401
