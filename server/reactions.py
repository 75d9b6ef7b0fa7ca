"""What the server does when something happens elsewhere: the router's handlers.

``install`` registers every reaction; nothing else calls ``Router.on``:

- ``StreamStateChanged`` (media hub) -> room ``stream.state``; while held, the room's
  ``stream.end`` -> ``StreamEndRequested`` -> the stream ends here;
- ``RelayStateChanged`` (relay supervisor) -> room ``restream.state`` (public part only);
- ``WebhookVerified`` (webhook route) -> ``PaymentBook.apply`` (ledger, one transaction) ->
  ``PaymentSucceeded`` / ``PaymentReversed`` for each effect;
- ``PaymentSucceeded`` -> room ``tip`` or ``song.boost``; ``PaymentReversed`` -> ``tip.refunded``;
- ``PaymentSucceeded`` of a ticket -> the ticket issued (or refunded when paid too late for a
  seat); ``PaymentReversed`` of a ticket -> the ticket refunded, its access revoked
  (``server/ticket_sales.py``);
- ``StreamStateChanged`` of a show with a replay tier -> its recording (``server/recordings.py``),
  and the room's song events while it records -> the recording's chapters.

Room-facing reactions publish through the gateway's system publish with an idempotency key
derived from our own ids, so a retried reaction (a redelivered webhook re-announces the
payment's standing effects) never shows twice.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import TYPE_CHECKING

from payments.checkout import Payment, PaymentBook
from payments.events import ChargeRefunded
from payments.payout_events import MONEY_OUT, PayoutEvents
from payments.providers import PaymentProvider
from payments.transfer_reversals import TransferReversals
from rooms.bus import EventCallback
from rooms.events import Event
from rooms.gateway import RoomGateway
from server import business_metrics, ticket_sales
from server.live import STREAM_END, Live
from server.recordings import Recordings
from server.router import (
    PaymentReversed,
    PaymentSucceeded,
    RelayStateChanged,
    Router,
    StreamEndRequested,
    StreamStateChanged,
    WebhookVerified,
)

if TYPE_CHECKING:
    from server.analytics import Recorder
    from server.services import Services

log = logging.getLogger("notalabel.payouts")


class WebhookRejected(Exception):
    """The ledger refused a verified event for good; it is recorded as seen (no retries)."""


PUBLIC_RELAY_STATUS = ("id", "platform", "state", "next_attempt_at")


def tip_event(p: Payment) -> dict[str, object]:
    return {"id": p.id, "from": p.meta.get("from", "Anonymous"), "amount": p.amount, "currency": p.currency,
            "message": p.meta.get("message", "")}


def boost_event(p: Payment) -> dict[str, object]:
    return {"request_id": p.meta["request_id"], "boost_id": p.id, "amount": p.amount, "currency": p.currency,
            "from": p.meta.get("from", "")}


def install(router: Router, gateway: RoomGateway, live: Live, book: PaymentBook, provider: PaymentProvider) -> None:
    _install_media(router, gateway, live)
    _install_money(router, gateway, book, provider)


def _install_media(router: Router, gateway: RoomGateway, live: Live) -> None:
    changes = itertools.count()

    async def stream_state(event: StreamStateChanged) -> None:
        if event.moved:
            return
        await gateway.publish_system(event.slug, "stream.state", dict(event.data), event.key)

    async def relay_state(event: RelayStateChanged) -> None:
        """A target's state change as the room event ``restream.state``.

        Room events reach every fan, so they carry only the public part (which platform,
        live or not). Reasons (the ingest server's own words), byte counts and URLs stay
        behind the owner-only ``GET /api/rooms/{slug}/restreams``."""
        status = event.status
        public = {k: status[k] for k in PUBLIC_RELAY_STATUS if k in status}
        key = f"restream:{event.slug}:{status['id']}:{status['state']}:{next(changes)}:{time.time()}"
        await gateway.publish_system(event.slug, "restream.state", public, key)

    router.on(StreamStateChanged, stream_state)
    _watch_held_streams(router, gateway, live)
    router.on(RelayStateChanged, relay_state)


def _watch_held_streams(router: Router, gateway: RoomGateway, live: Live) -> None:
    """While this node holds a room's stream it listens to the room's events, so an owner's
    ``stream.end`` published on any node ends the stream here (key rotated, stream ended)."""
    watching: dict[str, EventCallback] = {}

    def callback(slug: str) -> EventCallback:
        def on_event(event: Event) -> None:
            if event.type == STREAM_END:
                router.emit(StreamEndRequested(slug))

        return on_event

    async def watch(event: StreamStateChanged) -> None:
        slug, held = event.slug, event.data.get("state") != "offline"
        if held and slug not in watching:
            watching[slug] = callback(slug)  # before the await: one subscription per stream
            await gateway.bus.subscribe(slug, watching[slug])
        elif not held and slug in watching:
            await gateway.bus.unsubscribe(slug, watching.pop(slug))

    async def end_held(event: StreamEndRequested) -> None:
        await live.end_stream(event.slug)

    router.on(StreamStateChanged, watch)
    router.on(StreamEndRequested, end_held)


def _install_money(router: Router, gateway: RoomGateway, book: PaymentBook, provider: PaymentProvider) -> None:
    async def webhook(event: WebhookVerified) -> None:
        if isinstance(event.event.payload, MONEY_OUT):
            return  # install_payouts handles it
        applied = await book.apply(event.event, resolve=provider.reference_of)
        if applied.rejected:
            raise WebhookRejected(applied.rejected)
        for effect in applied.effects:
            kind = PaymentSucceeded if effect.kind == "paid" else PaymentReversed
            await router.dispatch(kind(effect.payment))

    async def succeeded(event: PaymentSucceeded) -> None:
        p = event.payment
        if p.kind == "tip" and p.room:
            await gateway.publish_system(p.room, "tip", tip_event(p), f"tip:{p.id}")
        elif p.kind == "boost" and p.room:
            await gateway.publish_system(p.room, "song.boost", boost_event(p), f"boost:{p.id}")

    async def reversed_(event: PaymentReversed) -> None:
        p = event.payment
        if p.kind == "tip" and p.room:
            await gateway.publish_system(p.room, "tip.refunded", {"id": p.id}, f"tip-refunded:{p.id}")

    router.on(WebhookVerified, webhook)
    router.on(PaymentSucceeded, succeeded)
    router.on(PaymentReversed, reversed_)


def install_payouts(router: Router, payouts: PayoutEvents, reversals: TransferReversals) -> None:
    """``WebhookVerified`` about money out (``account.updated``, ``transfer.reversed``,
    ``payout.failed``) -> payout account state or the payout's ledger step; a refund
    (``charge.refunded``, booked by ``_install_money`` first) -> its part of paid transfers
    reversed now (settlement's next run finishes what this leaves)."""

    async def webhook(event: WebhookVerified) -> None:
        if isinstance(event.event.payload, ChargeRefunded):
            report = await reversals.run()
            if report.pending or report.failed:
                log.warning("refund %s: %d reversals wait, %d refused", event.event.id, len(report.pending),
                            len(report.failed))
        if isinstance(event.event.payload, MONEY_OUT):
            outcome = await payouts.apply(event.event)
            if outcome.note and outcome.note != "duplicate":
                log.warning("webhook %s (%s): %s", event.event.id, event.event.type, outcome.note)

    router.on(WebhookVerified, webhook)


def install_tickets(router: Router, services: Services) -> None:
    async def succeeded(event: PaymentSucceeded) -> None:
        await ticket_sales.paid(services, event.payment)

    async def reversed_(event: PaymentReversed) -> None:
        await ticket_sales.reversed_(services, event.payment)

    router.on(PaymentSucceeded, succeeded)
    router.on(PaymentReversed, reversed_)


def install_recordings(router: Router, gateway: RoomGateway, recordings: Recordings) -> None:
    """``StreamStateChanged`` -> a recorder for a recorded show that went live here; while it
    records, the room's song events become its chapters."""
    listening: dict[str, EventCallback] = {}

    def callback(slug: str) -> EventCallback:
        def on_event(event: Event) -> None:
            recordings.room_event(slug, event)

        return on_event

    async def stream_state(event: StreamStateChanged) -> None:
        slug, state = event.slug, str(event.data.get("state"))
        await recordings.stream_changed(slug, state)
        recorded = state != "offline" and slug in recordings.active
        if recorded and slug not in listening:
            listening[slug] = callback(slug)
            await gateway.bus.subscribe(slug, listening[slug])
        elif not recorded and slug in listening:
            await gateway.bus.unsubscribe(slug, listening.pop(slug))

    router.on(StreamStateChanged, stream_state)


def install_analytics(router: Router, recorder: Recorder) -> None:
    """Restream target states go into the show's stream-health samples; payments are counted
    for the operator (server/business_metrics.py), once each as the ledger applies them once."""

    async def relay_state(event: RelayStateChanged) -> None:
        recorder.relay_state(event.slug, dict(event.status))

    async def paid(event: PaymentSucceeded) -> None:
        business_metrics.payment(event.payment, "paid")

    async def reversed_(event: PaymentReversed) -> None:
        business_metrics.payment(event.payment, "reversed")

    router.on(RelayStateChanged, relay_state)
    router.on(PaymentSucceeded, paid)
    router.on(PaymentReversed, reversed_)
