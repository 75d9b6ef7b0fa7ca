"""A local HTTP double of Stripe's API for the ``stripe`` library: records every request it
sends (method, path, headers, decoded form) and answers with Stripe's documented objects
(https://docs.stripe.com/api/checkout/sessions/object, /api/refunds/object,
/api/payment_intents/object, /api/accounts/object, /api/account_links/object,
/api/transfers/object, /api/transfer_reversals/object: a reversal may not take more than is
left of its transfer). Idempotency keys are honoured like Stripe: the same key
gets the first answer again."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.support.servers import free_port


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class StripeDouble:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict[str, str]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse_destinations: set[str] = field(default_factory=set)
    delay_s: float = 0.0
    """Each answer waits this long first (a slower Stripe: crash tests kill runs mid-way)."""
    refuse_reversals: set[str] = field(default_factory=set)
    """Destinations whose transfers cannot be reversed (the account's balance cannot cover it)."""
    hold_transfers: asyncio.Event | None = None
    """When set to an Event, each ``POST /v1/transfers`` is recorded, then answered only once
    the Event is set (concurrency tests hold one run's transfer until another's arrives)."""

    def of(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl(await request.text(), keep_blank_values=True))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), form))
        if self.hold_transfers is not None and request.method == "POST" and request.path == "/v1/transfers":
            await self.hold_transfers.wait()
        key = request.headers.get("Idempotency-Key")
        if key and key in self.answers:
            return web.json_response(self.answers[key])
        if request.method == "POST" and request.path == "/v1/transfers" and form["destination"] in \
                self.refuse_destinations:
            return web.json_response({"error": {"type": "invalid_request_error", "code": "account_invalid",
                                                "message": "No such destination"}}, status=400)
        if request.method == "POST" and request.path.endswith("/reversals"):
            refused = self.refuse_reversal(request.path.split("/")[3], int(form["amount"]))
            if refused is not None:
                return web.json_response({"error": {"type": "invalid_request_error", "code": "balance_insufficient",
                                                    "message": refused}}, status=400)
        answer = self.answer(request, form)
        if key:
            self.answers[key] = answer
        return web.json_response(answer)

    def refuse_reversal(self, transfer_id: str, amount: int) -> str | None:
        tr = self.transfers.get(transfer_id)
        if tr is None:
            return f"No such transfer: {transfer_id}"
        if tr["destination"] in self.refuse_reversals:
            return "The connected account's balance cannot cover this reversal"
        if amount > tr["amount"] - tr["amount_reversed"]:
            return "Reversal amount exceeds what is left of the transfer"
        return None

    def answer(self, request: web.Request, form: dict[str, str]) -> dict[str, Any]:
        if request.path == "/v1/checkout/sessions":
            sid = "cs_test_" + secrets.token_hex(12)
            meta = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
            return {"id": sid, "object": "checkout.session", "mode": form["mode"], "status": "open",
                    "payment_status": "unpaid", "client_reference_id": form.get("client_reference_id"),
                    "metadata": meta, "expires_at": int(form["expires_at"]), "currency": form.get(
                        "line_items[0][price_data][currency]"), "amount_total": int(
                        form.get("line_items[0][price_data][unit_amount]", "0")),
                    "payment_intent": None, "url": f"https://checkout.stripe.com/c/pay/{sid}", "livemode": False}
        if request.path == "/v1/refunds":
            return {"id": "re_" + secrets.token_hex(8), "object": "refund", "amount": int(form.get("amount", 0)),
                    "payment_intent": form["payment_intent"], "status": "succeeded", "currency": "usd"}
        if request.path == "/v1/accounts":
            return {"id": "acct_" + secrets.token_hex(8), "object": "account", "charges_enabled": False,
                    "payouts_enabled": False, "details_submitted": False,
                    "controller": {"stripe_dashboard": {"type": form.get("controller[stripe_dashboard][type]")}},
                    "requirements": {"currently_due": ["external_account"], "past_due": []}}
        if request.path == "/v1/account_links":
            return {"object": "account_link", "created": 1, "expires_at": 300,
                    "url": f"https://connect.stripe.com/setup/e/{form['account']}/{secrets.token_hex(8)}"}
        if request.path == "/v1/transfers":
            tr = {"id": "tr_" + secrets.token_hex(8), "object": "transfer", "amount": int(form["amount"]),
                  "currency": form["currency"], "destination": form["destination"],
                  "transfer_group": form.get("transfer_group"), "amount_reversed": 0, "reversed": False,
                  "source_transaction": form.get("source_transaction"),
                  "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
            self.transfers[tr["id"]] = tr
            return tr
        if request.path.startswith("/v1/transfers/") and request.path.endswith("/reversals"):
            tr = self.transfers[request.path.split("/")[3]]
            tr["amount_reversed"] += int(form["amount"])
            tr["reversed"] = tr["amount_reversed"] == tr["amount"]
            return {"id": "trr_" + secrets.token_hex(8), "object": "transfer_reversal", "amount": int(form["amount"]),
                    "transfer": tr["id"], "currency": tr["currency"],
                    "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}}
        if request.path.startswith("/v1/payment_intents/"):
            pi = request.path.rsplit("/", 1)[1]
            return {"id": pi, "object": "payment_intent", "metadata": self.intents.get(pi, {}), "status": "succeeded"}
        raise web.HTTPNotFound(text=json.dumps({"error": {"type": "invalid_request_error", "message": "unknown"}}),
                               content_type="application/json")


@asynccontextmanager
async def stripe_double() -> AsyncIterator[StripeDouble]:
    double = StripeDouble()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", double.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    double.url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        await runner.cleanup()
