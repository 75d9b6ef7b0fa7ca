"""``POST /webhooks/stripe``: provider events in, ledger postings and room events out.

The raw body's ``Stripe-Signature`` is verified (``payments.signing``, 300 s tolerance,
every configured secret) before anything parses it. Unsigned, forged or stale deliveries
are 400 JSON, counted in ``nal_webhooks_total{outcome}`` and write nothing. A verified
event is routed (``WebhookVerified``); the answer (200 ``{"received": true}``) comes once its
ledger posting committed, so a failure is a 5xx the provider retries. Duplicates are 200.
An event the ledger refuses for good is 200 ``{"applied": false}``, counted (``rejected``)
and logged as an error: retrying would not change the answer.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from prometheus_client import Counter

from payments import events, signing
from payments.errors import EventError, SignatureError
from server import business_metrics
from server.errors import BadRequest
from server.httputil import json_response, read_raw
from server.keys import SERVICES
from server.money import WEBHOOK_PATH
from server.reactions import WebhookRejected
from server.router import WebhookVerified

log = logging.getLogger("notalabel.webhooks")
WEBHOOKS = Counter("nal_webhooks_total", "Payment webhooks by outcome", ["outcome"])


async def stripe_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_raw(request, events.MAX_BODY)
    try:
        signing.verify(request.headers.get("Stripe-Signature", ""), body, services.webhook_secrets, time.time())
        event = events.parse(body)
    except SignatureError as exc:
        WEBHOOKS.labels(exc.code).inc()
        log.warning("webhook refused: %s", exc, extra={"reason": exc.code})
        raise BadRequest(str(exc), exc.code) from None
    except EventError as exc:
        WEBHOOKS.labels("bad_event").inc()
        raise BadRequest(str(exc), "bad_event") from None
    try:
        await services.router.dispatch(WebhookVerified(event))
    except WebhookRejected as exc:
        # Retrying cannot help: acknowledge, count and log it loudly for an operator.
        WEBHOOKS.labels("rejected").inc()
        business_metrics.webhook_event(event.type, "rejected")
        log.error("webhook %s (%s) refused by the ledger: %s", event.id, event.type, exc)
        return json_response({"received": True, "applied": False})
    WEBHOOKS.labels("accepted").inc()
    business_metrics.webhook_event(event.type, "accepted")
    return json_response({"received": True})


def setup(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, stripe_webhook)
