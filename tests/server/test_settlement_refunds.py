"""Refunds after settlement against the Stripe double, on both databases: the payees' parts
of the refund are taken back from their transfers (``/v1/transfers/{id}/reversals`` through
the official library, idempotency key ``reversal:{id}``), booked back into their earnings,
once however often the job runs; a payee whose account cannot cover it keeps the negative
balance, recouped from later earnings; a redelivered ``transfer.reversed`` adds nothing."""

from __future__ import annotations

from pathlib import Path

from payments.reversals import Refund
from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from tests.server.test_payouts import onboard, stripe, user
from tests.server.test_webhooks import event
from tests.support.money import running
from tests.support.stripe_double import stripe_double

SECRET = "whsec_test_payouts"


async def test_a_refund_after_settlement_reverses_the_transfers_pro_rata(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(tmp_path, database_url, **stripe(double)) as srv:
        perf, p_perf = await user(srv, "perf")
        bass, p_bass = await user(srv, "bass")
        drum, p_drum = await user(srv, "drum")
        accts = {p: await onboard(srv, double, h) for p, h in ((p_perf, perf), (p_bass, bass), (p_drum, drum))}
        sheet = SplitSheet((Share(p_perf, 5_000, Role.ARTIST), Share(p_bass, 3_000, Role.BAND),
                            Share(p_drum, 2_000, Role.BAND)))
        ledger = srv.services.ledger
        for i in range(3):
            await ledger.record_sale(f"ticket:t{i}", Revenue(gross=3_000, currency="USD", sheet=sheet, fee=117,
                                                            processor="stripe", room="jazz", show="s1"))
        report = await srv.services.settlement.run()
        assert {p.transfer_group for p in report.sent} == {"show:s1"} and len(report.sent) == 3
        paid = {p.party: p for p in report.sent}
        assert double.of("POST", f"/v1/transfers/{paid[p_perf].transfer_id}/reversals") == []

        # One ticket refunded in full: every share gives its part back, from its transfer.
        double.refuse_reversals.add(accts[p_drum])  # the drummer's account is empty
        await ledger.record_refund("refund:t0:3000", Refund("ticket:t0", 3_000, "refund"))
        owed = {p: -(await srv.balances(p))["earnings"] for p in paid}
        assert all(v > 0 for v in owed.values())
        again = await srv.services.settlement.run()
        assert again.sent == []
        for party in (p_perf, p_bass):
            [sent] = double.of("POST", f"/v1/transfers/{paid[party].transfer_id}/reversals")
            assert int(sent.form["amount"]) == owed[party]
            assert sent.headers["Idempotency-Key"].startswith("reversal:rv_")
            assert sent.form["metadata[nal_reversal]"] == sent.headers["Idempotency-Key"].removeprefix("reversal:")
            assert (await srv.balances(party))["earnings"] == 0
            assert double.transfers[paid[party].transfer_id]["amount_reversed"] == owed[party]
        assert (await srv.balances(p_drum))["earnings"] == -owed[p_drum]  # refused: recouped later
        await srv.ledger_ok()

        # Another run, and the events Stripe sends about the reversals, change nothing.
        await srv.services.settlement.run()
        assert len([r for r in double.requests if r.path.endswith("/reversals")]) == 3
        tr = double.transfers[paid[p_bass].transfer_id]
        ev = event("transfer.reversed", {**tr, "metadata": {"nal_payout": paid[p_bass].id}})
        for _ in range(2):
            assert (await srv.webhook(ev, secret=SECRET)).status == 200
        assert (await srv.balances(p_bass))["earnings"] == 0
        states = {p.party: (p.state, p.reversed) for p in await srv.services.settlement.payouts()}
        assert states == {p_perf: ("paid", owed[p_perf]), p_bass: ("paid", owed[p_bass]), p_drum: ("paid", 0)}
        await srv.ledger_ok()

        # The drummer's next show pays back what is owed before anything goes out.
        receipt = await ledger.record_sale("ticket:t9", Revenue(gross=6_000, currency="USD", sheet=sheet, fee=204,
                                                               processor="stripe", room="jazz", show="s2"))
        s2_share = next(leg.amount for leg in receipt.postings if leg.account.party == p_drum)
        left = (await srv.balances(p_drum))["earnings"]
        assert left == s2_share - owed[p_drum] > 0
        later = {p.party: p for p in (await srv.services.settlement.run()).sent}
        assert (later[p_drum].amount, later[p_drum].transfer_group) == (left, "show:s2")
        assert (await srv.balances(p_drum))["earnings"] == 0
        await srv.ledger_ok()
