"""Who may read or do what with money out (sandbox, both databases): every route acts on the
caller's own party only, guests get 401, another party's id in the query changes nothing,
and no HTTP route runs settlement (a room owner or host cannot trigger payouts)."""

from __future__ import annotations

from pathlib import Path

from payments.royalty import Revenue
from payments.splits import Role, Share, SplitSheet
from tests.support.money import running
from tests.support.wait import wait_until

OWN_ROUTES = [("GET", "/api/me/payout-account"), ("POST", "/api/me/payout-account"),
              ("GET", "/api/me/payout-account/refresh"), ("GET", "/api/me/earnings"),
              ("GET", "/api/me/tax-summary"), ("GET", "/api/me/statement")]


async def test_money_out_authorization_matrix(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url, payout_hold_s=0.0) as srv:
        alice, _ = await srv.signup("alice")
        bob, _ = await srv.signup("bob")
        a_id = (await (await srv.http.get("/api/me", headers=alice)).json())["id"]
        slug = await srv.room(alice)
        sheet = SplitSheet((Share(f"user:{a_id}", 10_000, Role.ARTIST),))
        await srv.services.ledger.record_tip("t", Revenue(gross=1_000, currency="USD", sheet=sheet, room=slug))

        for method, path in OWN_ROUTES:
            r = await srv.http.request(method, path, allow_redirects=False)
            assert r.status == 401, (method, path, r.status)

        assert (await srv.http.post("/api/me/payout-account", headers=bob)).status == 201
        a_acct = await (await srv.http.get("/api/me/payout-account", headers=alice)).json()
        assert a_acct["account"] is None and a_acct["party"] == f"user:{a_id}"

        b_earn = await (await srv.http.get(f"/api/me/earnings?party=user:{a_id}", headers=bob)).json()
        assert b_earn["party"] != f"user:{a_id}" and b_earn["lines"] == [] and b_earn["balances"] == []
        a_earn = await (await srv.http.get("/api/me/earnings", headers=alice)).json()
        assert [ln["room"] for ln in a_earn["lines"]] == [slug]
        tax = await (await srv.http.get(f"/api/me/tax-summary?party=user:{a_id}", headers=bob)).text()
        assert tax.strip() == "year,party,currency,item,amount"

        r = await srv.http.get("/api/me/tax-summary?year=nineteen", headers=alice)
        assert r.status == 400 and (await r.json())["error"] == "bad_year"

        for method, path in (("POST", "/api/payouts/run"), ("POST", "/api/me/payouts"),
                             ("POST", f"/api/rooms/{slug}/payouts")):
            assert (await srv.http.request(method, path, headers=alice)).status in (404, 405)
        assert await srv.services.settlement.payouts() == []  # nothing an HTTP caller did moved money


async def test_serve_settles_on_its_own_with_payout_interval(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url, payout_hold_s=0.0, payout_interval_s=0.05) as srv:
        alice, _ = await srv.signup("alice")
        a_id = (await (await srv.http.get("/api/me", headers=alice)).json())["id"]
        assert (await srv.http.post("/api/me/payout-account", headers=alice)).status == 201
        sheet = SplitSheet((Share(f"user:{a_id}", 10_000, Role.ARTIST),))
        await srv.services.ledger.record_tip("t", Revenue(gross=1_000, currency="USD", sheet=sheet, room="r"))

        async def payouts() -> list[dict[str, object]]:
            body = await (await srv.http.get("/api/me/earnings", headers=alice)).json()
            found: list[dict[str, object]] = body["payouts"]
            return found

        [paid] = await wait_until(payouts, lambda ps: bool(ps) and ps[0]["state"] == "paid")
        assert paid["amount"] == 900
        await srv.ledger_ok()
