"""The sandbox provider's checkout page and buttons (``--payments sandbox`` only).

    GET  /sandbox/checkout/{session}                 the TEST checkout page
    POST /sandbox/checkout/{session}/pay             pay: sends checkout.session.completed
    POST /sandbox/checkout/{session}/decline         "card declined": 402, the session stays open
    POST /sandbox/checkout/{session}/expire          cancel: sends checkout.session.expired
    POST /sandbox/checkout/{session}/refund          {"amount"?}: sends charge.refunded
    POST /sandbox/checkout/{session}/dispute         sends charge.dispute.created
    POST /sandbox/checkout/{session}/dispute/won|lost  sends charge.dispute.closed

Scripts and load tests call these too. The events are signed as Stripe signs them and go to
our own webhook route (``server.webhooks.receive``, in process: the same signature check,
parsing and routing as ``POST /webhooks/stripe``), so everything after the click is the
production path. Knowing the
session id (unguessable, in the checkout URL) is the only credential: these are test payments.
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from payments.errors import PaymentStateError, ProviderError
from payments.providers.sandbox import SandboxProvider, SandboxSession
from server.errors import ApiError, BadRequest, Conflict, NotFound
from server.httputil import BAD_INPUT, json_response, read_json_if_any
from server.keys import SERVICES


class PaymentRequired(ApiError):
    status = 402
    code = "card_declined"


class BadGateway(ApiError):
    status = 502
    code = "webhook_failed"


def _sandbox(request: web.Request) -> SandboxProvider:
    provider = request.app[SERVICES].provider
    if not isinstance(provider, SandboxProvider):
        raise NotFound("the sandbox is off (--payments stripe)", "no_sandbox")
    return provider


def _session(request: web.Request) -> tuple[SandboxProvider, SandboxSession]:
    sandbox = _sandbox(request)
    session = sandbox.session(request.match_info["session"])
    if session is None:
        raise NotFound("no such checkout session", "no_session")
    return sandbox, session


def session_json(s: SandboxSession) -> dict[str, Any]:
    r = s.request
    return {"id": s.id, "status": s.status, "amount": r.amount, "currency": r.currency,
            "amount_refunded": s.amount_refunded, "dispute": s.dispute_status, "declined": s.declined,
            "success_url": r.success_url, "cancel_url": r.cancel_url, "test": True}


async def _step(request: web.Request, step: Callable[[SandboxSession], Awaitable[Any]]) -> web.Response:
    _sandbox_, session = _session(request)
    try:
        await step(session)
    except PaymentStateError as exc:
        raise Conflict(str(exc), "bad_state") from None
    except ProviderError as exc:
        raise BadGateway(str(exc)) from None
    return json_response(session_json(session))


async def pay(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return await _step(request, lambda s: sandbox.pay(s.id))


async def decline(request: web.Request) -> web.Response:
    sandbox, session = _session(request)
    try:
        sandbox.decline(session.id)
    except PaymentStateError as exc:
        raise Conflict(str(exc), "bad_state") from None
    raise PaymentRequired("Your card was declined (sandbox test card). Nothing was charged.")


async def expire(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return await _step(request, lambda s: sandbox.expire(s.id))


async def refund(request: web.Request) -> web.Response:
    sandbox, session = _session(request)
    data = await read_json_if_any(request)
    amount = data.get("amount")
    if amount is not None and (type(amount) is not int or amount <= 0):
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest("'amount' must be a positive integer of minor units", "bad_field")
    if session.payment_intent is None:
        raise Conflict("this checkout session was not paid", "bad_state")
    key = f"sandbox-refund:{session.id}:{len(session.refund_keys)}"
    intent = session.payment_intent
    return await _step(request, lambda s: sandbox.refund(intent, amount, key))


async def dispute(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    return await _step(request, lambda s: sandbox.open_dispute(s.id))


async def dispute_close(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    outcome = request.match_info["outcome"]
    if outcome not in ("won", "lost"):
        raise NotFound("dispute outcomes are won and lost", "not_found")
    return await _step(request, lambda s: sandbox.close_dispute(s.id, outcome == "won"))


async def page(request: web.Request) -> web.Response:
    _sandbox_, session = _session(request)
    r = session.request
    items = "".join(f"<li>{html.escape(i.name)} × {i.quantity}: {i.amount / 100:.2f} {html.escape(r.currency)}</li>"
                    for i in r.line_items)
    state = json.dumps(session_json(session)).replace("<", "\\u003c")
    body = PAGE.format(items=items, total=f"{r.amount / 100:.2f} {html.escape(r.currency)}",
                       status=html.escape(session.status), state=state)
    return web.Response(text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy":
                                 "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                 "connect-src 'self'; form-action 'none'; frame-ancestors 'none'"})


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TEST checkout - sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }}
.test {{ background: #ffd400; color: #000; font-weight: 700; padding: .5rem 1rem; border-radius: .3rem; }}
button {{ font-size: 1rem; padding: .5rem 1rem; margin: .25rem .25rem .25rem 0; }}
#message {{ min-height: 1.5rem; }}
</style></head>
<body>
<p class="test" role="note">TEST MODE: sandbox payment, no real money moves.</p>
<h1>Checkout</h1>
<ul>{items}</ul>
<p>Total: <strong>{total}</strong></p>
<p>Status: <strong id="status">{status}</strong></p>
<div id="open-actions">
  <button id="pay" data-step="pay">Pay</button>
  <button id="decline" data-step="decline">Decline (card declined)</button>
  <button id="cancel" data-step="expire">Cancel</button>
</div>
<div id="paid-actions" hidden>
  <button id="refund" data-step="refund">Refund</button>
  <button id="dispute" data-step="dispute">Open dispute</button>
  <button id="dispute-won" data-step="dispute/won">Dispute won</button>
  <button id="dispute-lost" data-step="dispute/lost">Dispute lost</button>
</div>
<p id="message" role="status"></p>
<script>
const state = {state};
function show(s) {{
  document.getElementById("status").textContent = s.status + (s.amount_refunded ? ", refunded " + s.amount_refunded : "")
    + (s.dispute ? ", dispute " + s.dispute : "");
  document.getElementById("open-actions").hidden = s.status !== "open";
  document.getElementById("paid-actions").hidden = s.status !== "complete";
}}
show(state);
for (const button of document.querySelectorAll("button[data-step]")) {{
  button.addEventListener("click", async () => {{
    const step = button.dataset.step;
    const answer = await fetch(location.pathname + "/" + step, {{ method: "POST" }});
    const body = await answer.json();
    document.getElementById("message").textContent = answer.ok ? "" : body.message;
    if (!answer.ok) return;
    show(body);
    if (step === "pay") location.assign(body.success_url);
    if (step === "expire") location.assign(body.cancel_url);
  }});
}}
</script>
</body></html>
"""


def setup(app: web.Application) -> None:
    r = app.router
    base = "/sandbox/checkout/{session}"
    r.add_get(base, page)
    r.add_post(base + "/pay", pay)
    r.add_post(base + "/decline", decline)
    r.add_post(base + "/expire", expire)
    r.add_post(base + "/refund", refund)
    r.add_post(base + "/dispute", dispute)
    r.add_post(base + "/dispute/{outcome}", dispute_close)
