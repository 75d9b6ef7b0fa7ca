"""Money wiring: the payment provider the settings ask for, the webhook secrets, the book.

``--payments sandbox`` (default): test payments through our own checkout page; webhooks are
signed with ``--stripe-webhook-secret`` or, when unset, a secret derived from the data dir's
sealing secret (so every process sharing the data dir, or ``--secret-key``, agrees).
``--payments stripe``: Stripe Checkout through the official library
(``--stripe-secret-key``, ``--stripe-webhook-secret`` with several secrets comma-separated
during a rotation, ``--stripe-api-base`` for tests).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.checkout import FeePolicy, PaymentBook
from payments.errors import ProviderError
from payments.ledger import Ledger
from payments.providers import PaymentProvider
from payments.providers.rails import PayoutRail, SandboxRail
from payments.providers.sandbox import SandboxProvider
from payments.providers.stripe_checkout import StripeProvider
from payments.providers.stripe_connect import StripeConnect
from relay.keybox import load_or_create_secret
from server.config import Settings

log = logging.getLogger("notalabel.payments")
WEBHOOK_PATH = "/webhooks/stripe"


class ConfigError(ValueError):
    """The payment settings do not make a working provider."""


def webhook_secrets(settings: Settings) -> tuple[str, ...]:
    given = tuple(s.strip() for s in settings.stripe_webhook_secret.split(",") if s.strip())
    if given:
        return given
    if settings.payments == "stripe":
        raise ConfigError("--payments stripe needs --stripe-webhook-secret")
    seed = settings.secret_key.encode() if settings.secret_key else load_or_create_secret(settings.data_dir)
    return ("whsec_sandbox_" + hmac.new(seed, b"sandbox webhook secret", hashlib.sha256).hexdigest()[:40],)


class WebhookSender:
    """The sandbox's way out: POST each signed event to our own webhook endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, body: bytes, signature: str) -> None:
        if self._session is None:
            raise ProviderError("the sandbox webhook sender is not running")
        headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
        try:
            async with self._session.post(self.url, data=body, headers=headers) as answer:
                if answer.status >= 300:
                    raise ProviderError(f"our webhook endpoint answered {answer.status}: {await answer.text()}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"webhook delivery to {self.url} failed: {exc}") from exc


def make_provider(settings: Settings, sender: WebhookSender, secrets: tuple[str, ...]) -> PaymentProvider:
    if settings.payments == "stripe":
        try:
            return StripeProvider(settings.stripe_secret_key, settings.stripe_api_base)
        except ProviderError as exc:
            raise ConfigError(str(exc)) from None
    if settings.payments != "sandbox":
        raise ConfigError(f"--payments must be sandbox or stripe, not {settings.payments!r}")
    sandbox = SandboxProvider(settings.base_url, secrets[0], redeliver=settings.sandbox_redeliver)
    sandbox.attach(sender)
    return sandbox


def make_book(engine: AsyncEngine, ledger: Ledger, settings: Settings) -> PaymentBook:
    return PaymentBook(engine, ledger, FeePolicy(settings.payment_fee_bps, settings.payment_fee_fixed),
                       max_batch=max(1, settings.webhook_batch_max))


def make_rail(provider: PaymentProvider) -> PayoutRail:
    """Payouts go out through the same provider money came in through."""
    if isinstance(provider, StripeProvider):
        return StripeConnect(provider.client)
    return SandboxRail()
