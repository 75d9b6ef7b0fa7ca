"""The whole money-out loop, on both databases (PostgreSQL among them), with the Stripe
double and Stripe-signed webhooks: a show with a performer, two band members and two
songwriters (one not signed up yet), its split sheet set over the API; tickets and tips
paid through Stripe Checkout; the show ends and its hold passes; settlement sends one
transfer per payee in the show's transfer group, with source transactions and the
payouts' idempotency keys; a ``transfer.reversed`` and a ``payout.failed`` put money
back; a refund after settlement is reversed from the transfers pro rata; the invited
songwriter signs up, claims and is paid; the owner's settlement sheet and setlist
download; every balance is exact and ``ledger check`` passes."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from payments import tables as pt
from payments.royalty import Performance, PerformedSong
from payments.splits import Role, Share, SplitSheet
from tests.server.test_payouts import onboard, stripe, user
from tests.server.test_webhooks import completed, event
from tests.support.money import Running, running
from tests.support.stripe_double import StripeDouble, stripe_double
from tests.support.wait import wait_until

SECRET = "whsec_test_payouts"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def pay(srv: Running, payment_id: str, checkout_url: str, amount: int, n: int) -> str:
    """Stripe's events for a paid checkout: the session completed, then its charge; the charge id."""
    session = checkout_url.rsplit("/", 1)[1]
    pi, ch = f"pi_e2e_{n}", f"ch_e2e_{n}"
    assert (await srv.webhook(completed(payment_id, session, pi), secret=SECRET)).status == 200
    charge = event("charge.succeeded", {"id": ch, "object": "charge", "amount": amount, "amount_refunded": 0,
                                        "currency": "usd", "metadata": {"nal_payment": payment_id},
                                        "payment_intent": pi, "status": "succeeded"})
    assert (await srv.webhook(charge, secret=SECRET)).status == 200
    return ch


async def sell(srv: Running, double: StripeDouble, fan: dict[str, str], slug: str, show_id: str,
               tier_id: str) -> dict[str, tuple[int, str]]:
    """Three tickets and two tips, paid: payment id -> (amount, charge)."""
    paid: dict[str, tuple[int, str]] = {}
    for n in range(3):
        r = await srv.http.post(f"/api/shows/{show_id}/orders", headers=fan, json={"tier_id": tier_id})
        assert r.status == 201, await r.text()
        body = await r.json()
        paid[body["order_id"]] = (2_000, await pay(srv, body["order_id"], body["checkout_url"], 2_000, n))
    for n, amount in ((3, 5_000), (4, 1_000)):
        tip = await srv.tip(slug, fan, amount=amount)
        paid[tip["tip_id"]] = (amount, await pay(srv, tip["tip_id"], tip["checkout_url"], amount, n))
    groups = {f["payment_intent_data[transfer_group]"] for f in (r.form for r in double.of("POST", "/v1/checkout/sessions"))}
    assert groups == {f"show:{show_id}"}
    return paid


async def test_the_whole_loop_with_stripe(tmp_path: Path, database_url: str) -> None:
    async with stripe_double() as double, running(tmp_path, database_url, **{**stripe(double),
                                                                           "payout_hold_s": 1.0}) as srv:
        perf, p_perf = await user(srv, "perf")
        bass, p_bass = await user(srv, "bass")
        keys, p_keys = await user(srv, "keys")
        penn, p_penn = await user(srv, "penn")  # a songwriter with an account
        fan, _ = await srv.signup("fay")
        acct = {p: await onboard(srv, double, h) for p, h in ((p_perf, perf), (p_bass, bass), (p_keys, keys),
                                                              (p_penn, penn))}
        slug = await srv.room(perf)
        lines = [{"username": "perf", "role": "artist", "bps": 5_000}, {"username": "bass", "role": "band", "bps": 2_000},
                 {"username": "keys", "role": "band", "bps": 1_500}, {"username": "penn", "role": "songwriter", "bps": 1_000},
                 {"name": "Wanda Writer", "email": "wanda@example.com", "role": "songwriter", "bps": 500}]
        r = await srv.http.put(f"/api/rooms/{slug}/split-sheet", headers=perf, json={"lines": lines})
        assert r.status == 200, await r.text()
        [invite] = (await r.json())["invitations"]
        p_invite = f"invite:{invite['invitation']}"
        now = time.time()
        r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=perf,
                                json={"title": "Release night", "starts_at": iso(now - 60), "ends_at": iso(now + 3_600)})
        show_id = (await r.json())["id"]
        r = await srv.http.post(f"/api/shows/{show_id}/tiers", headers=perf, json={"name": "GA", "price": 2_000})
        tier_id = (await r.json())["id"]
        paid = await sell(srv, double, fan, slug, show_id, tier_id)
        song = PerformedSong("Opening song", SplitSheet((Share(p_penn, 10_000, Role.SONGWRITER, "penn"),)), duration_s=200)
        await srv.services.ledger.record_performance(f"performance:{show_id}",
                                                     Performance(show_id, slug, "USD", (song,)))
        parties = (p_perf, p_bass, p_keys, p_penn, p_invite)
        earned = {p: (await srv.balances(p))["earnings"] for p in parties}
        gross = sum(a for a, _c in paid.values())
        assert all(v > 0 for v in earned.values())
        fees = sum(2_000 * 290 // 10_000 + 30 for _ in range(3)) + (145 + 30) + (29 + 30)
        assert sum(earned.values()) == gross - fees - gross // 10  # the pool went to penn with the setlist
        await srv.ledger_ok()

        # Nothing goes out while the show is on; then it ends and its hold (1 s) passes.
        assert (await srv.services.settlement.run()).requested == []
        r = await srv.http.patch(f"/api/shows/{show_id}", headers=perf, json={"ends_at": iso(time.time() + 1)})
        assert r.status == 200, await r.text()

        async def due() -> int:
            return sum(s.available for s in await srv.services.settlement.standings())

        await wait_until(due, lambda n: n == sum(earned.values()), timeout=60)
        report = await srv.services.settlement.run()
        sent = {p.party: p for p in report.sent}
        assert set(sent) == {p_perf, p_bass, p_keys, p_penn} and not report.failed and not report.pending
        why = {s.party: s.reason for s in report.standings}
        assert why[p_invite] == "invitation not claimed yet"  # keeps accruing, visibly
        biggest = max(paid.values())
        for party, row in sent.items():
            [tr] = [t for t in double.of("POST", "/v1/transfers") if t.form["metadata[nal_payout]"] == row.id]
            assert int(tr.form["amount"]) == row.amount == earned[party]
            assert tr.form["destination"] == acct[party] and tr.form["currency"] == "usd"
            assert tr.form["transfer_group"] == f"show:{show_id}"
            assert tr.headers["Idempotency-Key"] == f"payout:{row.id}"
            # The show's charge with the most left covers the transfer, or none is named.
            assert tr.form.get("source_transaction") == (biggest[1] if row.amount <= biggest[0] else None)
        assert any("source_transaction" in t.form for t in double.of("POST", "/v1/transfers"))
        await srv.ledger_ok()

        # The keyboardist's transfer is reversed; the songwriter's bank payout fails.
        rev = event("transfer.reversed", {"id": sent[p_keys].transfer_id, "object": "transfer",
                                          "amount": sent[p_keys].amount, "amount_reversed": sent[p_keys].amount,
                                          "metadata": {"nal_payout": sent[p_keys].id}})
        failed = event("payout.failed", {"id": "po_bank_e2e", "object": "payout", "amount": sent[p_penn].amount,
                                         "failure_code": "account_closed"})
        failed["account"] = acct[p_penn]
        double.transfers[str(sent[p_keys].transfer_id)]["amount_reversed"] = sent[p_keys].amount  # as Stripe did
        for _ in range(2):
            assert (await srv.webhook(rev, secret=SECRET)).status == 200
            assert (await srv.webhook(failed, secret=SECRET)).status == 200
        assert (await srv.balances(p_keys))["earnings"] == earned[p_keys]
        assert (await srv.balances(p_penn))["earnings"] == earned[p_penn]
        await srv.ledger_ok()

        # A ticket refunded after settlement: each share gives its part back; the paid
        # transfers are reversed by that part, the returned payouts simply owe less.
        ticket = next(pid for pid, (amount, _c) in paid.items() if amount == 2_000)
        r = await srv.http.post(f"/api/payments/{ticket}/refund", headers=perf)
        assert r.status == 202, await r.text()
        refund = event("charge.refunded", {"id": paid[ticket][1], "object": "charge", "amount": 2_000,
                                           "amount_refunded": 2_000, "currency": "usd",
                                           "metadata": {"nal_payment": ticket}, "payment_intent": "pi_e2e_0",
                                           "status": "succeeded"})
        assert (await srv.webhook(refund, secret=SECRET)).status == 200
        for party in (p_perf, p_bass):
            [sent_rev] = double.of("POST", f"/v1/transfers/{sent[party].transfer_id}/reversals")
            assert sent_rev.headers["Idempotency-Key"].startswith("reversal:")
            taken = int(sent_rev.form["amount"])
            assert 0 < taken < sent[party].amount
            assert (await srv.balances(party))["earnings"] == 0
            assert double.transfers[sent[party].transfer_id]["amount_reversed"] == taken
        for party in (p_keys, p_penn):
            assert double.of("POST", f"/v1/transfers/{sent[party].transfer_id}/reversals") == []
            assert 0 < (await srv.balances(party))["earnings"] < earned[party]
        await srv.ledger_ok()

        # Wanda signs up through the link, claims, opens her account and is paid; the others again.
        wanda, p_wanda = await user(srv, "wanda")
        token = invite["invite_url"].rsplit("/", 1)[1]
        r = await srv.http.post(f"/api/invitations/{token}/claim", headers=wanda)
        owed_wanda = (await r.json())["moved"]["USD"]
        assert r.status == 200 and 0 < owed_wanda < earned[p_invite]
        acct[p_wanda] = await onboard(srv, double, wanda)
        async def wanda_due() -> int:
            return sum(s.available for s in await srv.services.settlement.standings(p_wanda))

        await wait_until(wanda_due, lambda n: n == owed_wanda, timeout=60)
        again = {p.party: p for p in (await srv.services.settlement.run()).sent}
        assert again[p_wanda].amount == owed_wanda and again[p_wanda].transfer_group == "settlement:" + \
            time.strftime("%Y-%m-%d", time.gmtime(again[p_wanda].created_at))
        assert {p_keys, p_penn} <= set(again) and again[p_keys].transfer_group == f"show:{show_id}"
        await srv.ledger_ok()

        # Every balance exact: what each payee holds at Stripe from its live payouts is what
        # the show earned it, less its part of the refund (the ledger and Stripe agree).
        for party in (p_perf, p_bass, p_keys, p_penn, p_wanda):
            left = await srv.balances(party)
            assert left["earnings"] == left.get("payout_pending", 0) == left.get("in_transit", 0) == 0
        refund_legs = await refund_postings(srv, ticket)
        assert sum(refund_legs.values()) < 0
        live = [p for p in await srv.services.settlement.payouts() if p.state == "paid"]
        got: dict[str, int] = {}
        for p in live:
            tr = double.transfers[str(p.transfer_id)]
            assert tr["amount_reversed"] == p.reversed
            got[p.party] = got.get(p.party, 0) + tr["amount"] - tr["amount_reversed"]
        for party in (p_perf, p_bass, p_keys, p_penn):
            assert got[party] == earned[party] + refund_legs[party]
        assert got[p_wanda] == earned[p_invite] + refund_legs[p_invite]
        await settlement_sheet_and_setlist(srv, perf, bass, show_id, p_perf, set(got))
        await srv.ledger_ok()


async def refund_postings(srv: Running, payment_id: str) -> dict[str, int]:
    """What the refund's ledger transaction did to each party's earnings."""
    a, p, tx = pt.accounts, pt.postings, pt.transactions
    q = (sa.select(a.c.party, sa.func.sum(p.c.amount)).join(a, a.c.id == p.c.account_id)
         .join(tx, tx.c.id == p.c.transaction_id)
         .where(tx.c.kind == "refund", tx.c.ref == f"ticket:{payment_id}", a.c.kind == "earnings")
         .group_by(a.c.party))
    async with srv.services.engine.connect() as conn:
        return {party: int(total) for party, total in await conn.execute(q)}


async def settlement_sheet_and_setlist(srv: Running, perf: dict[str, str], bass: dict[str, str], show_id: str,
                                       p_perf: str, payees: set[str]) -> None:
    assert (await srv.http.get(f"/api/shows/{show_id}/settlement", headers=bass)).status == 403
    assert (await srv.http.get(f"/api/shows/{show_id}/settlement")).status == 401
    assert (await srv.http.get(f"/api/shows/{show_id}/setlist.csv", headers=bass)).status == 403
    body = await (await srv.http.get(f"/api/shows/{show_id}/settlement", headers=perf)).json()
    [sheet] = body["sheets"]
    by = {p["party"]: p for p in sheet["parties"]}
    assert by[p_perf]["lines"] == [{"role": "artist", "bps": 5_000}]
    assert by[p_perf]["paid"] > 0 and by[p_perf]["reversed"] > 0
    assert sheet["gross"] == 2_000 * 2 + 5_000 + 1_000  # one ticket refunded
    r = await srv.http.get(f"/api/shows/{show_id}/settlement?format=csv", headers=perf)
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert {row["party"] for row in rows} >= payees - {p for p in payees if p not in by}
    r = await srv.http.get(f"/api/shows/{show_id}/setlist.csv", headers=perf)
    [song] = list(csv.DictReader(io.StringIO(await r.text())))
    assert song["song_title"] == "Opening song" and "penn" in song["writers"]

