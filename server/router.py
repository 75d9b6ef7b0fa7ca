"""The event router: every reaction that crosses packages goes through here.

A producer (the media hub, the relay supervisor, the payment webhook) publishes a typed
event, a frozen dataclass declared below; the router calls the handlers that ``server``
registered for that type, in registration order. Producers never know who reacts, and no
package reaches sideways into another.

Two ways in:

* ``emit(event)`` for synchronous callers (hub and relay callbacks run inside media code
  and must never wait): the handlers run in one task, tracked so ``close()`` waits for it.
  At most ``max_pending`` such tasks are in flight; beyond that the event is dropped,
  counted in ``notalabel_router_dropped_total`` and logged (a stalled bus must not grow
  memory without bound; the sticky room state is re-sent by the next change).
* ``await dispatch(event)`` for async callers that need the reaction done before they
  answer (a webhook is acknowledged only after its ledger posting committed). A handler
  that raises stops the dispatch and the error goes back to the caller.

Every handler failure is counted in ``notalabel_router_failures_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter

from payments.checkout import Payment
from payments.events import WebhookEvent

log = logging.getLogger("notalabel.router")

FAILURES = Counter("notalabel_router_failures_total", "Router handlers that raised", ["event"])
DROPPED = Counter("notalabel_router_dropped_total", "Events emitted while the router was full", ["event"])


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamStateChanged:
    """The media hub: a room's stream went live/offline or its figures became known."""

    slug: str
    data: Mapping[str, Any]
    key: str
    moved: bool = False
    """Offline here because another node took the room over (the room is still live there,
    and that node said so): not a room event."""


@dataclass(frozen=True)
class StreamEndRequested:
    """A room event ``stream.end`` reached this node: its owner ended the stream or rotated
    the key, so the node that holds the stream ends it (``Live.end_stream``)."""

    slug: str


@dataclass(frozen=True)
class RelayStateChanged:
    """The relay supervisor: a restream target changed state (status never carries a key)."""

    slug: str
    status: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookVerified:
    """``POST /webhooks/stripe``: a correctly signed provider event, parsed. Dispatched (the
    webhook is acknowledged only once its ledger posting committed)."""

    event: WebhookEvent


@dataclass(frozen=True)
class PaymentSucceeded:
    """The ledger recorded a payment (tip, boost, ticket); the room may show it."""

    payment: Payment


@dataclass(frozen=True)
class PaymentReversed:
    """A payment was fully refunded or lost a dispute; the ledger reversed its legs."""

    payment: Payment


E = TypeVar("E")
Handler = Callable[[E], Awaitable[None]]


class Router:
    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._handlers: dict[type[Any], list[Handler[Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_pending = max_pending
        self._closed = False

    def on(self, kind: type[E], handler: Handler[E]) -> None:
        """Call ``handler(event)`` for every event of exactly this type."""
        self._handlers.setdefault(kind, []).append(handler)

    async def dispatch(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                await handler(event)
            except Exception:
                FAILURES.labels(type(event).__name__).inc()
                raise

    def emit(self, event: object) -> None:
        name = type(event).__name__
        if self._closed or len(self._tasks) >= self.max_pending:
            DROPPED.labels(name).inc()
            log.warning("router dropped %s", name)
            return
        if not self._handlers.get(type(event)):
            return
        task = asyncio.get_running_loop().create_task(self._run(event), name=f"router-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, event: object) -> None:
        try:
            await self.dispatch(event)
        except Exception:  # noqa: BLE001 - emit() callers cannot take errors; counted in dispatch
            log.warning("reaction to %s failed", type(event).__name__, exc_info=True)

    async def close(self) -> None:
        """Stop taking emitted events; wait for the ones in flight."""
        self._closed = True
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
