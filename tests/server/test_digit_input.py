"""Numbers in paths, queries and headers are ASCII digits: a superscript or another script's
digit (``str.isdigit`` says yes to '²', and ``int('²')`` raises) is bad input, answered with
the route's own 400 or 404 and counted, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from payments.signing import SignatureError, parse_header
from server import edgeauth
from tests.support.money import running

SUPERSCRIPT_TWO, ARABIC_THREE = "%C2%B2", "%D9%A3"


def bad_input(kind: str) -> float:
    return REGISTRY.get_sample_value("nal_bad_input_total", {"kind": kind}) or 0.0


async def test_non_ascii_digits_are_refused_not_crashed_on(tmp_path: Path, database_url: str) -> None:
    async with running(tmp_path, database_url) as srv:
        owner, _ = await srv.signup("alice")
        slug = await srv.room(owner)
        cases = [
            ("GET", f"/api/me/tax-summary?year={SUPERSCRIPT_TWO * 4}", None, 400, "bad_year"),
            ("GET", f"/api/rooms/{slug}/songs?limit={SUPERSCRIPT_TWO}", None, 400, "bad_query"),
            ("GET", f"/api/rooms/{slug}/songs?cursor={ARABIC_THREE}", None, 400, "bad_query"),
            ("GET", "/api/me/statement?from=yesterday", None, 400, "bad_date"),
            ("GET", "/api/me/statement?from=2026-02-01&to=2026-01-01", None, 400, "bad_period"),
            ("GET", "/api/me/statement?to=9999-12-31", None, 400, "bad_date"),  # its end: the day after
            ("GET", "/api/me/statement?format=xml", None, 400, "bad_format"),
            ("PATCH", f"/api/rooms/{slug}/songs/{SUPERSCRIPT_TWO}", {"title": "Song"}, 404, "no_song"),
            ("PATCH", f"/api/rooms/{slug}/restreams/{SUPERSCRIPT_TWO}", {"enabled": False}, 404, "no_target"),
        ]
        for method, path, body, status, code in cases:
            counted = bad_input(code)
            reply = await srv.http.request(method, path, json=body, headers=owner)
            assert reply.status == status, (path, reply.status, await reply.text())
            assert (await reply.json())["error"] == code, path
            if status == 400:
                assert bad_input(code) == counted + 1, path
        songs = await srv.http.get(f"/api/rooms/{slug}/songs?limit=1&cursor=0")
        assert songs.status == 200  # the ASCII forms still work


@pytest.mark.parametrize("expires", ["²²²²²²²²²²", "١٢٣٤٥٦٧٨٩٠", "1e9"])
def test_an_edge_credential_with_other_digits_is_malformed(expires: str) -> None:
    key = edgeauth.derive(b"secret")
    assert edgeauth.refusal(key, "room", f"{edgeauth.SCHEME} {expires}.sig", 1_000.0) == "malformed"


@pytest.mark.parametrize("timestamp", ["²", "١٧٠٠٠٠٠٠٠٠"])
def test_a_stripe_signature_timestamp_with_other_digits_is_refused(timestamp: str) -> None:
    with pytest.raises(SignatureError):
        parse_header(f"t={timestamp},v1=abc")
