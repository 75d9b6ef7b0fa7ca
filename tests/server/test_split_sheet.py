"""The room's split sheet over HTTP and songwriter invitations, on both databases with the
sandbox: only the owner sets or reads the sheet; bad sheets are refused with a clear code
(and counted); tips are split by it; a songwriter not signed up yet accrues under the
invitation and, once signed up, claims it through the link: what accrued moves to them,
the sheet names them, and a checkout started with the old sheet is swept over later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from payments.splits import Role, Share, SplitSheet
from server.api_tips import boost_sheet
from tests.support.money import Running, running


async def user(srv: Running, name: str) -> tuple[dict[str, str], str]:
    headers, _ = await srv.signup(name)
    me = await (await srv.http.get("/api/me", headers=headers)).json()
    return headers, f"user:{me['id']}"


def refused(code: str) -> float:
    return REGISTRY.get_sample_value("nal_bad_input_total", {"kind": code}) or 0.0


async def put(srv: Running, slug: str, headers: dict[str, str] | None, lines: Any) -> Any:
    return await srv.http.put(f"/api/rooms/{slug}/split-sheet", headers=headers or {}, json={"lines": lines})


async def paid_tip(srv: Running, slug: str, fan: dict[str, str], amount: int) -> None:
    body = await srv.tip(slug, fan, amount=amount)
    assert (await srv.sandbox(body["checkout_url"], "pay")).status == 200


async def test_the_owner_sets_the_sheet_and_an_invited_songwriter_claims(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        perf, p_perf = await user(srv, "perf")
        _, p_bass = await user(srv, "bass")
        fan, _ = await srv.signup("fay")
        slug = await srv.room(perf)
        good = [{"username": "perf", "role": "artist", "bps": 5_000}, {"username": "bass", "role": "band", "bps": 3_000},
                {"name": "Ann Writer", "email": "ann@example.com", "role": "songwriter", "bps": 2_000}]

        # Only the owner; bad sheets are refused, each with its reason, and counted.
        assert (await put(srv, slug, None, good)).status == 401
        assert (await put(srv, slug, fan, good)).status == 403
        assert (await srv.http.get(f"/api/rooms/{slug}/split-sheet", headers=fan)).status == 403
        cases = [
            ([{**good[0], "bps": 5_001}, good[1], good[2]], "bad_split", "sum to 10001"),
            ([{**good[0], "bps": 5_000.0}, good[1], good[2]], "bad_split", "integer"),
            ([{**good[0], "bps": True}, good[1], good[2]], "bad_split", "integer"),
            ([good[0], {**good[1], "username": "nobody"}, good[2]], "no_user", "no user"),
            ([good[0], good[1], {**good[2], "role": "band"}], "bad_split", "songwriter or publisher"),
            ([good[0], {**good[1], "username": "perf"}, good[2]], "bad_split", "duplicate"),
            ([good[0], {**good[1], "role": "drummer"}, good[2]], "bad_split", "is not one of"),  # the schema's words
            ([], "bad_split", "should be non-empty"),
        ]
        for lines, code, words in cases:
            before = refused(code)
            r = await put(srv, slug, perf, lines)
            body = await r.json()
            assert (r.status, body["error"]) == (400, code), body
            assert words in body["message"]
            assert refused(code) == before + 1
        r = await put(srv, slug, perf, good)
        assert r.status == 200, await r.text()
        body = await r.json()
        [invite] = body["invitations"]
        assert invite["invite_url"].startswith(f"{srv.url}/invite/")
        token = invite["invite_url"].rsplit("/", 1)[1]
        writer = f"invite:{invite['invitation']}"
        sheet = (await (await srv.http.get(f"/api/rooms/{slug}/split-sheet", headers=perf)).json())["lines"]
        assert [(x["party"], x["role"], x["bps"]) for x in sheet] == [
            (p_perf, "artist", 5_000), (p_bass, "band", 3_000), (writer, "songwriter", 2_000)]
        assert sheet[2]["claimed"] is False and "invite_url" not in sheet[2]

        # Tips follow the sheet; the songwriter's share accrues under the invitation.
        await paid_tip(srv, slug, fan, 1_000)
        net = 1_000 - (29 + 30) - 100
        shares = {p: (await srv.balances(p))["earnings"] for p in (p_perf, p_bass, writer)}
        assert shares == {p_perf: net // 2 + 1, p_bass: net * 3 // 10, writer: net // 5} and sum(shares.values()) == net
        r = await srv.http.get(f"/api/invitations/{token}")
        assert await r.json() == {"room": slug, "name": "Ann Writer", "role": "songwriter", "bps": 2_000,
                                  "claimed": False}
        assert (await srv.http.get("/api/invitations/not-a-token")).status == 404
        assert (await srv.http.post(f"/api/invitations/{token}/claim")).status == 401
        pending = await srv.tip(slug, fan, amount=2_000)  # its checkout keeps the old sheet

        # Ann signs up through the link and claims: what accrued is hers.
        ann, p_ann = await user(srv, "ann")
        r = await srv.http.post(f"/api/invitations/{token}/claim", headers=ann)
        assert r.status == 200, await r.text()
        assert (await r.json())["moved"] == {"USD": shares[writer]}
        assert (await srv.balances(p_ann))["earnings"] == shares[writer]
        assert (await srv.balances(writer))["earnings"] == 0
        r = await srv.http.post(f"/api/invitations/{token}/claim", headers=fan)
        assert (r.status, (await r.json())["error"]) == (409, "claimed")
        assert (await srv.http.post(f"/api/invitations/{token}/claim", headers=ann)).status == 200  # again: no-op
        assert (await srv.balances(p_ann))["earnings"] == shares[writer]
        sheet = (await (await srv.http.get(f"/api/rooms/{slug}/split-sheet", headers=perf)).json())["lines"]
        assert sheet[2]["party"] == p_ann and sheet[2]["name"] == "ann"
        # Re-saving the sheet with the invitation keeps the claimer.
        r = await put(srv, slug, perf, [good[0], good[1], {"name": "Ann Writer", "role": "songwriter", "bps": 2_000,
                                                           "invitation": invite["invitation"]}])
        assert r.status == 200 and (await r.json())["lines"][2]["party"] == p_ann

        # The checkout started before the claim pays the invitation; the sweep moves it over.
        assert (await srv.sandbox(pending["checkout_url"], "pay")).status == 200
        late = (await srv.balances(writer))["earnings"]
        assert late == (2_000 - (58 + 30) - 200) // 5
        await srv.services.settlement.run()
        assert (await srv.balances(writer))["earnings"] == 0
        assert (await srv.balances(p_ann))["earnings"] == shares[writer] + late
        await paid_tip(srv, slug, fan, 1_000)  # new tips go to Ann directly
        assert (await srv.balances(p_ann))["earnings"] == shares[writer] + late + net // 5
        await srv.ledger_ok()


def test_a_boost_gives_the_writers_their_part_and_the_room_sheet_the_rest() -> None:
    base = SplitSheet((Share("user:1", 5_001, Role.ARTIST, "perf"), Share("user:2", 4_999, Role.BAND, "bass")))
    writers = [{"name": "Wanda", "share_bps": 7_000}, {"name": "Pub Co", "share_bps": 3_000, "role": "publisher"}]
    sheet = boost_sheet(base, writers, 1_000)
    assert [(s.party, s.bps, s.role) for s in sheet.shares] == [
        ("user:1", 4_501, Role.ARTIST), ("user:2", 4_499, Role.BAND),
        ("writer:wanda", 700, Role.SONGWRITER), ("writer:pub co", 300, Role.PUBLISHER)]
    assert boost_sheet(base, [], 1_000) == base
