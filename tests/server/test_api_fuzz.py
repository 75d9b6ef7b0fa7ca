"""schemathesis against a real ``notalabel serve`` (sandbox payments, SQLite): every operation of
``/api/openapi.json``, signed out and signed in, must pass its checks with zero failures.

The checks: no 5xx (not_a_server_error); every status, content type and JSON body is one the
document gives for that operation (status_code_conformance, content_type_conformance,
response_schema_conformance); a request the schema calls invalid is refused and one it
calls valid is not (negative_data_rejection, positive_data_acceptance); an operation that
needs a session refuses a request without one (ignored_auth). So a document that drifts from
the server in either direction fails here.

Signed in, the path parameters name real things (the owner's room, show, tier, song, restream
target, ticket, order, payment) so the handlers run past their lookups. Where a rule the
handler holds cannot be said in JSON Schema, ``NOT_IN_SCHEMA`` turns off that one check
for that one operation and says why. The run is bounded and repeatable: a fixed seed,
deterministic generation, a few examples per operation, no stateful phase (the document
has no links)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(600)

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "negative_data_rejection", "positive_data_acceptance", "ignored_auth")
MAX_EXAMPLES = 5
SEED = 18

# (operation, check, why): a rule of the handler's that JSON Schema cannot state.
NOT_IN_SCHEMA = [
    ("POST /api/rooms/{slug}/tips", "positive_data_acceptance",
     "the amount's bounds are the room's tip settings (tip_min..tip_max), set by its owner"),
    ("POST /api/rooms/{slug}/song-requests/{request_id}/boosts", "positive_data_acceptance",
     "the amount's bounds are the room's tip settings, and the request must be queued now"),
    ("PUT /api/rooms/{slug}/tip-settings", "positive_data_acceptance",
     "tip_max may not be below tip_min, and a field left out keeps the room's stored value"),
    ("POST /api/rooms/{slug}/restreams", "positive_data_acceptance",
     "a url follows relay's destination rules (scheme, host, port, path; refused with their own codes and counters)"),
    ("PATCH /api/rooms/{slug}/restreams/{target_id}", "positive_data_acceptance",
     "without a platform in the body, what url and ingest may be depends on the target's stored platform"),
    ("POST /api/rooms/{slug}/shows", "positive_data_acceptance", "ends_at must be after starts_at"),
    ("PATCH /api/shows/{show_id}", "positive_data_acceptance",
     "ends_at must be after starts_at, the stored one when the body names only one"),
    ("POST /api/rooms/{slug}/songs", "positive_data_acceptance", "the writers' share_bps must sum to 10,000"),
    ("PATCH /api/rooms/{slug}/songs/{song_id}", "positive_data_acceptance", "the writers' share_bps must sum to 10,000"),
    ("POST /api/shows/{show_id}/tiers", "positive_data_acceptance", "min_price may not be above price"),
    ("PATCH /api/shows/{show_id}/tiers/{tier_id}", "positive_data_acceptance",
     "min_price may not be above price, the stored one when the body names only one"),
    ("POST /api/payments/{payment_id}/refund", "positive_data_acceptance",
     "the amount may not be above what the payment has left to refund"),
    ("POST /api/rooms/{slug}/hosts", "positive_data_acceptance",
     "the username must name an account, and not the room's owner"),
    ("POST /api/shows/{show_id}/orders", "positive_data_acceptance",
     "an amount only for a pay-what-you-want tier, at least its min_price; the tier must be on sale"),
    ("PUT /api/rooms/{slug}/image", "positive_data_acceptance",
     "the bytes must start like a PNG, JPEG or WebP file"),
    ("PUT /api/rooms/{slug}/split-sheet", "positive_data_acceptance",
     "a username must name an account, an invitation one of the room's, and the bps sum to 10,000"),
]


def config(token: str | None, parameters: dict[str, str], log_out_token: str | None) -> str:
    """schemathesis.toml: the run's bounds and checks, the session, the path parameters, the
    exceptions above. All in the file, not on the command line, where a check or header
    named would win over an operation's own."""
    lines = [f"seed = {SEED}"]
    if token:
        lines.append(f"headers = {{ Authorization = {json.dumps('Bearer ' + token)} }}")
    lines += ["[generation]", f"max-examples = {MAX_EXAMPLES}", "deterministic = true", 'database = "none"',
              "[phases.stateful]", "enabled = false", "[checks]", "enabled = false"]
    lines += [f"{check}.enabled = true" for check in CHECKS]
    if parameters:
        lines.append("[parameters]")
        lines += [f'"path.{name}" = {json.dumps(value)}' for name, value in parameters.items()]
    for name, check, _why in NOT_IN_SCHEMA:
        lines += ["[[operations]]", f"include-name = {json.dumps(name)}", f"checks.{check}.enabled = false"]
    if log_out_token:  # logging out ends a session of its own, not the one the run goes on with
        lines += ["[[operations]]", 'include-name = "DELETE /api/sessions"',
                  f"headers = {{ Authorization = {json.dumps('Bearer ' + log_out_token)} }}"]
    return "\n".join(lines) + "\n"


def start_schemathesis(url: str, work: Path, settings: str) -> subprocess.Popen[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "schemathesis.toml").write_text(settings)
    args = [str(Path(sys.executable).parent / "st"), "--config-file", str(work / "schemathesis.toml"), "run",
            f"{url}/api/openapi.json", "--no-color", "--request-timeout", "30", "--workers", "1"]
    return subprocess.Popen(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def call(url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


PASSWORD = "correct horse battery"


def log_in(url: str, name: str) -> str:
    token: str = call(url, "POST", "/api/sessions", {"username": name, "password": PASSWORD})["token"]
    return token


def sign_up(url: str, name: str) -> str:
    call(url, "POST", "/api/accounts", {"username": name, "password": PASSWORD})
    return log_in(url, name)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def things(url: str) -> tuple[str, dict[str, str], str]:
    """The owner's token, the ids of real things for the path parameters, and a token of the
    owner's to log out with (``DELETE /api/me/sessions/{session_id}`` ends a third session)."""
    owner, fan = sign_up(url, "fuzz_owner"), sign_up(url, "fuzz_fan")
    slug = call(url, "POST", "/api/rooms", {"title": "Fuzz room"}, owner)["slug"]
    song = call(url, "POST", f"/api/rooms/{slug}/songs", {"title": "First song"}, owner)["id"]
    target = call(url, "POST", f"/api/rooms/{slug}/restreams", {"platform": "youtube", "key": "abcd-1234"}, owner)["id"]
    show = call(url, "POST", f"/api/rooms/{slug}/shows",
                {"title": "Fuzz show", "starts_at": iso(time.time() - 60), "ends_at": iso(time.time() + 7200)}, owner)
    tier = call(url, "POST", f"/api/shows/{show['id']}/tiers", {"name": "GA", "price": 1500}, owner)["id"]
    order = call(url, "POST", f"/api/shows/{show['id']}/orders", {"tier_id": tier}, owner)
    ticket = call(url, "POST", f"/api/shows/{show['id']}/comps", {"username": "fuzz_fan", "tier_id": tier}, owner)["id"]
    tip = call(url, "POST", f"/api/rooms/{slug}/tips", {"amount": 500}, fan)["tip_id"]
    session = call(url, "POST", f"/api/shows/{show['id']}/viewing-sessions", {}, owner)["session"]
    log_out, spare = log_in(url, "fuzz_owner"), log_in(url, "fuzz_owner")
    spare_id = next(s["id"] for s in call(url, "GET", "/api/me/sessions", None, spare)["sessions"] if s["current"])
    return owner, {"slug": slug, "song_id": str(song), "target_id": str(target), "show_id": show["id"],
                   "tier_id": tier, "order_id": order["order_id"], "ticket_id": ticket, "payment_id": tip,
                   "session": session, "session_id": spare_id, "username": "fuzz_fan", "series": "viewers",
                   "chart": "viewers"}, log_out


def figures(output: str) -> str:
    """The summary lines of a run (operations, test cases, failures), for the report."""
    keep = re.compile(r"API Operations|Test cases|Selected|Tested|Skipped|passed|failed|errored|Failures|seconds", re.I)
    return "\n".join(line for line in output.splitlines() if keep.search(line))


def test_schemathesis_finds_no_failure_signed_out_and_in(server_process: Any, tmp_path: Path) -> None:
    """Both runs at once against one server (each is one process busy on one core): signed
    out changes nothing the owner's run reads."""
    srv = server_process(signups_per_hour_per_address=0, room_creates_per_hour_per_address=0)
    token, parameters, log_out = things(srv.url)
    runs = {"signed out": start_schemathesis(srv.url, tmp_path / "signed_out", config(None, {}, None)),
            "signed in": start_schemathesis(srv.url, tmp_path / "signed_in", config(token, parameters, log_out))}
    outputs = {name: run.communicate(timeout=500)[0] for name, run in runs.items()}
    for name, output in outputs.items():
        print(f"{name}:\n" + figures(output))
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}:\n{outputs[name]}"
