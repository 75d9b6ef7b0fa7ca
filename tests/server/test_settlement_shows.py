"""Settlement per show, on both databases with the sandbox end to end over HTTP: a show's
tickets and the tips made while it is on wait until the show has ended plus the hold
period, then go out as one payout per payee in transfer group ``show:{id}``; a tip outside
any show waits the hold period from when it was made and goes out in the day's group.
The settlement job runs on a clock the test moves (the server's own parts, shared)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from payments.settlement import Settlement
from server.services import show_ends
from tests.support.money import Running, running

HOLD_S = 3_600.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def at(srv: Running, clock: list[float]) -> Settlement:
    s = srv.services
    return Settlement(s.engine, s.ledger, s.payout_accounts, s.rail, hold_s=HOLD_S, claim_s=0.0,
                      clock=lambda: clock[0], show_ends=show_ends(s.engine))


async def show(srv: Running, owner: dict[str, str], slug: str, starts: float, ends: float, price: int) -> tuple[str, str]:
    r = await srv.http.post(f"/api/rooms/{slug}/shows", headers=owner,
                            json={"title": "Release night", "starts_at": iso(starts), "ends_at": iso(ends)})
    assert r.status == 201, await r.text()
    show_id = (await r.json())["id"]
    r = await srv.http.post(f"/api/shows/{show_id}/tiers", headers=owner, json={"name": "GA", "price": price})
    assert r.status == 201, await r.text()
    return show_id, (await r.json())["id"]


async def buy(srv: Running, fan: dict[str, str], show_id: str, tier_id: str) -> None:
    r = await srv.http.post(f"/api/shows/{show_id}/orders", headers=fan, json={"tier_id": tier_id})
    assert r.status == 201, await r.text()
    assert (await srv.sandbox((await r.json())["checkout_url"], "pay")).status == 200


async def tip(srv: Running, fan: dict[str, str], slug: str, amount: int) -> str:
    body = await srv.tip(slug, fan, amount=amount)
    assert (await srv.sandbox(body["checkout_url"], "pay")).status == 200
    return str(body["tip_id"])


async def test_a_show_settles_after_it_ended_plus_the_hold(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, _ = await srv.signup("perf")
        fan, _ = await srv.signup("fay")
        me = await (await srv.http.get("/api/me", headers=owner)).json()
        party = f"user:{me['id']}"
        assert (await srv.http.post("/api/me/payout-account", headers=owner)).status == 201
        on_air = await srv.room(owner, "On air")
        quiet = await srv.room(owner, "Quiet room")
        now = time.time()
        show_id, tier_id = await show(srv, owner, on_air, now - 600, now + 600, 2_000)
        await buy(srv, fan, show_id, tier_id)
        tip_id = await tip(srv, fan, on_air, 1_000)  # while the show is on: the show's money
        await tip(srv, fan, quiet, 500)  # no show on in that room
        payment = await srv.services.book.get(tip_id)
        assert payment is not None and payment.meta["show"] == show_id
        await srv.ledger_ok()

        earned = (await srv.balances(party))["earnings"]
        loose = 500 - (14 + 30) - 50
        clock = [now]
        job = at(srv, clock)
        [st] = await job.standings(party)
        assert (st.earnings, st.in_hold, st.available) == (earned, earned, 0)
        assert (await job.run()).requested == []

        clock[0] = time.time() + HOLD_S + 1  # the loose tip is due, the show is not over long enough
        [st] = await job.standings(party)
        assert (st.in_hold, st.available) == (earned - loose, loose)
        report = await job.run()
        [day] = report.sent
        assert (day.amount, day.transfer_group) == (loose, "settlement:" + time.strftime("%Y-%m-%d", time.gmtime(clock[0])))
        assert (await srv.balances(party))["earnings"] == earned - loose

        clock[0] = now + 600 + HOLD_S - 5  # the show ended, its hold is not over
        assert (await job.run()).requested == []
        clock[0] = now + 600 + HOLD_S + 1
        report = await job.run()
        [paid] = report.sent
        assert (paid.party, paid.amount, paid.transfer_group) == (party, earned - loose, f"show:{show_id}")
        assert paid.transfer_id and paid.state == "paid"
        assert (await srv.balances(party))["earnings"] == 0
        assert (await job.run()).requested == []  # nothing more: the show's payout is taken
        await srv.ledger_ok()
