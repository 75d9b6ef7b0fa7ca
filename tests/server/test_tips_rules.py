"""Tip rules and who may do what: amounts within the room's bounds, messages through the
blocked terms, banned fans tip only without a message; payments are private to the payer,
and only the room's owner refunds."""

from __future__ import annotations

from pathlib import Path

from tests.support.money import running


async def test_amounts_messages_terms_and_bans(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, _ = await srv.signup("perf")
        fan, _ = await srv.signup("fay")
        slug = await srv.room(owner)
        settings = await (await srv.http.get(f"/api/rooms/{slug}/tip-settings")).json()
        assert settings == {"currency": "USD", "tip_min": 100, "tip_max": 50000}
        post = srv.http.post
        for body, code in [({"amount": 99}, "bad_field"), ({"amount": 50001}, "bad_field"),
                           ({"amount": "500"}, "bad_field"), ({"amount": 500, "message": "x" * 201}, "bad_field"),
                           ({"amount": 500, "anonymous": "yes"}, "bad_field")]:
            r = await post(f"/api/rooms/{slug}/tips", json=body, headers=fan)
            assert (r.status, (await r.json())["error"]) == (400, code), body
        assert (await post(f"/api/rooms/{slug}/tips", json={"amount": 500})).status == 401
        assert (await post("/api/rooms/nope/tips", json={"amount": 500}, headers=fan)).status == 404
        r = await srv.http.put(f"/api/rooms/{slug}/tip-settings", json={"currency": "EUR", "tip_min": 200}, headers=fan)
        assert r.status == 403
        r = await srv.http.put(f"/api/rooms/{slug}/tip-settings", json={"currency": "EUR", "tip_min": 200}, headers=owner)
        assert await r.json() == {"currency": "EUR", "tip_min": 200, "tip_max": 50000}
        tip = await srv.tip(slug, fan, amount=200)
        payment = await srv.services.book.get(tip["tip_id"])
        assert payment is not None and (payment.currency, payment.amount) == ("EUR", 200)
        await srv.services.store.save_settings(
            (await srv.services.store.room_row(slug)).id, {"blocked_terms": ["spam*"]})  # type: ignore[union-attr]
        r = await post(f"/api/rooms/{slug}/tips", json={"amount": 500, "message": "SPAMMER here"}, headers=fan)
        assert (r.status, (await r.json())["error"]) == (400, "blocked_term")
        me = await (await srv.http.get("/api/me", headers=fan)).json()
        room = await srv.services.store.room_row(slug)
        assert room is not None
        await srv.services.store.set_ban(room.id, me["id"], room.owner_id, True)
        r = await post(f"/api/rooms/{slug}/tips", json={"amount": 500, "message": "hi"}, headers=fan)
        assert (r.status, (await r.json())["error"]) == (403, "banned")
        await srv.tip(slug, fan, amount=500)  # without a message a banned fan may still pay


async def test_payments_are_private_and_only_the_owner_refunds(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, _ = await srv.signup("perf")
        host, _ = await srv.signup("hank")
        fan, _ = await srv.signup("fay")
        other, _ = await srv.signup("olga")
        slug = await srv.room(owner)
        assert (await srv.http.post(f"/api/rooms/{slug}/hosts", json={"username": "hank"}, headers=owner)).status == 201
        tip = await srv.tip(slug, fan, amount=500)
        assert (await srv.sandbox(tip["checkout_url"], "pay")).status == 200
        theirs = await (await srv.http.get("/api/me/payments", headers=other)).json()
        assert theirs == {"payments": []}
        assert (await srv.http.get("/api/me/payments")).status == 401
        for who in (host, fan, other):
            r = await srv.http.post(f"/api/payments/{tip['tip_id']}/refund", headers=who)
            assert r.status == 403, await r.text()
        payment = await srv.services.book.get(tip["tip_id"])
        assert payment is not None and payment.refunded == 0
        r = await srv.http.post(f"/api/payments/{tip['tip_id']}/refund", json={"amount": 100}, headers=owner)
        assert r.status == 202
        payment = await srv.services.book.get(tip["tip_id"])
        assert payment is not None and (payment.status, payment.refunded) == ("paid", 100)
        await srv.ledger_ok()
