"""``POST /webhooks/stripe``: provider events in, ledger postings and room events out.

The raw body's ``Stripe-Signature`` is verified (``payments.signing``, 300 s tolerance,
every configured secret) before anything parses it. Unsigned, forged or stale deliveries
are 400 JSON, counted in ``nal_webhooks_total{outcome}`` and write nothing. A verified
event is routed (``WebhookVerified``); the answer (200 ``{"received": true}``) comes once its
ledger posting committed, so a failure is a 5xx the provider retries. Duplicates are 200.
An event the ledger refuses for good is 200 ``{"applied": false}``, counted (``rejected``)
and logged as an error: retrying would not change the answer.

The sandbox provider of a serving process hands its signed events to ``receive`` directly
(``LocalDelivery``), the same checks and routing as the endpoint without the HTTP round trip
through our own listener; a process that does not serve (``notalabel payouts run``) still
POSTs them to the endpoint (``server.money.WebhookSender``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import Counter

from payments import events, signing
from payments.errors import EventError, ProviderError, SignatureError
from server import business_metrics
from server.errors import ApiError, BadRequest
from server.httputil import INTERNAL_ERRORS, json_response, read_raw
from server.keys import SERVICES
from server.money import WEBHOOK_PATH
from server.reactions import WebhookRejected
from server.router import WebhookVerified

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("notalabel.webhooks")
WEBHOOKS = Counter("nal_webhooks_total", "Payment webhooks by outcome", ["outcome"])
LOCAL_TIMEOUT_S = 10.0
"""How long the sandbox waits for a local delivery (``WebhookSender``'s timeout over HTTP)."""


async def receive(services: Services, body: bytes, signature: str) -> dict[str, Any]:
    """Verify, parse and route one delivery: the endpoint's answer (``BadRequest`` when
    the signature or the event is refused)."""
    try:
        signing.verify(signature, body, services.webhook_secrets, time.time())
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
        return {"received": True, "applied": False}
    WEBHOOKS.labels("accepted").inc()
    business_metrics.webhook_event(event.type, "accepted")
    return {"received": True}


async def stripe_webhook(request: web.Request) -> web.Response:
    body = await read_raw(request, events.MAX_BODY)
    return json_response(await receive(request.app[SERVICES], body, request.headers.get("Stripe-Signature", "")))


class LocalDelivery:
    """The sandbox's way out in a serving process: each signed event to ``receive``, as a
    task of its own that finishes even when the sandbox stops waiting (an HTTP handler is
    not cancelled when its client goes either). A refusal or failure is a ``ProviderError``
    that names the answer the endpoint would have given."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, body: bytes, signature: str) -> None:
        work = asyncio.ensure_future(receive(self.services, body, signature))
        try:
            await asyncio.wait_for(asyncio.shield(work), LOCAL_TIMEOUT_S)
        except ApiError as exc:
            raise ProviderError(f"our webhook endpoint answered {exc.status}: {exc.message}") from None
        except (TimeoutError, asyncio.CancelledError) as exc:
            work.add_done_callback(_unwaited)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ProviderError(f"webhook delivery to {WEBHOOK_PATH} failed: timed out") from exc
        except Exception as exc:
            _internal(exc)
            raise ProviderError("our webhook endpoint answered 500: internal error") from exc


def _internal(exc: BaseException) -> None:
    INTERNAL_ERRORS.inc()
    log.error("unhandled error delivering a sandbox webhook", exc_info=exc)


def _unwaited(work: asyncio.Future[dict[str, Any]]) -> None:
    """A delivery nobody waits for any more: its failure is still counted and logged."""
    exc = None if work.cancelled() else work.exception()
    if exc is not None and not isinstance(exc, ApiError):
        _internal(exc)


def setup(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, stripe_webhook)
