"""The running server's parts, typed, built in one place, started and stopped in one order.

Start order (stop is the reverse): database, Redis client, the session cache's listener for
sessions ended on other nodes (server/session_cache.py), event bus, payments (provider and
the sandbox's webhook sender), the payout timer (--payout-interval-s), router, the WHEP access sweep, recordings (closing
what a crash left open; stopped after the intake, so a drain closes them cleanly), the show analytics recorder
(server/analytics.py), room gateway,
room directory, relay supervisor, RTMP listener. ``make_app`` starts everything up to the relay; ``notalabel
serve`` starts the RTMP listener once HTTP is up. A SIGTERM drain stops the intake first
(RTMP, relay, this node's claims in the room directory, then the gateway tells sockets to
reconnect with 1012), in-flight requests
finish, then the router, bus, Redis and database close. Each part stops exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from media.hub import Hub
from payments.checkout import PaymentBook
from payments.ledger import Ledger
from payments.payout_accounts import PayoutAccounts
from payments.payout_events import PayoutEvents
from payments.providers import PaymentProvider
from payments.providers.rails import PayoutRail
from payments.providers.sandbox import SandboxProvider
from payments.settlement import Settlement, ShowEnds
from payments.transfer_reversals import TransferReversals
from relay.destination import server_policy
from relay.keybox import KeyBox
from relay.store import TargetStore
from relay.supervisor import RelaySupervisor
from rooms.bus import EventBus
from rooms.gateway import RoomGateway
from rooms.hub import ACCESS_REVOKED
from server import money, reactions, sockets, splits, webhooks
from server.access import ShowAccess, ShowGate, WhepWatch, viewing_key
from server.analytics import Recorder
from server.analytics_store import AnalyticsStore
from server.auth import Session
from server.config import Settings
from server.db import make_engine, migrate
from server.directory import DirectoryAgent, MemoryDirectory, RedisDirectory, RoomDirectory
from server.lifecycle import Lifecycle
from server.live import Live
from server.payout_timer import PayoutTimer
from server.recordings import Recordings, recordings_root
from server.router import RelayStateChanged, Router
from server.session_cache import SessionCache
from server.store import SqlStore
from server.viewing import ViewingRegistry
from ticketing import tables as ticket_tables
from ticketing.service import Ticketing

INTAKE = "gateway"  # stopping down to here ends the work that arrives from outside


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    store: SqlStore
    bus: EventBus
    router: Router
    gateway: RoomGateway
    live: Live
    targets: TargetStore
    relay: RelaySupervisor
    directory: DirectoryAgent
    ledger: Ledger
    book: PaymentBook
    provider: PaymentProvider
    webhook_secrets: tuple[str, ...]
    webhook_sender: money.WebhookSender
    ticketing: Ticketing
    viewing: ViewingRegistry
    access: ShowAccess
    rail: PayoutRail
    payout_accounts: PayoutAccounts
    settlement: Settlement
    whep_watch: WhepWatch
    recordings: Recordings
    analytics: Recorder
    sessions: SessionCache[Session]
    redis: aioredis.Redis | None = None
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    draining: bool = False

    @property
    def hub(self) -> Hub:
        return self.live.hub

    async def room_changed(self, slug: str) -> None:
        """Hosts or settings changed over HTTP: every node reloads the room."""
        await self.gateway.room_changed(slug)

    async def ticket_access_changed(self, ticket_id: str, room: str, user_id: int) -> None:
        """A ticket was refunded or transferred away from ``user_id``: every node stops
        honouring its viewing tokens, and that user's sockets in the room must pass the gate again."""
        await self.viewing.revoke(ticket_id)
        await self.gateway.publish_system(room, ACCESS_REVOKED, {"user_id": user_id}, None)

    async def stop_intake(self) -> None:
        """RTMP, relay and room sockets (1012), once, however often this is called."""
        await self.lifecycle.stop(downto=INTAKE)


async def build(settings: Settings) -> Services:
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_pool_overflow)
    await migrate(engine, settings.database_url)
    store = SqlStore(engine)
    router = Router()
    bus = sockets.make_bus(settings)
    live = Live(settings, store, router)
    redis = aioredis.from_url(settings.redis, socket_timeout=2) if settings.redis else None
    rooms: RoomDirectory = RedisDirectory(redis, settings.redis_prefix) if redis is not None else MemoryDirectory()
    live.directory = DirectoryAgent(rooms, settings.internal_url, live.hub, live.hand_over)
    ticketing = Ticketing(engine, settings.ticket_hold_s)
    viewing = ViewingRegistry(redis, settings.redis_prefix)
    access = ShowAccess(ticketing, viewing, viewing_key(settings), settings.viewing_token_ttl_s)
    analytics = Recorder(store=AnalyticsStore(engine), ticketing=ticketing, access=access, hub=live.hub,
                         period_s=settings.analytics_sample_s, node=settings.internal_url, redis=redis,
                         prefix=settings.redis_prefix)
    gateway = sockets.make_gateway(settings, bus, store, streams=live, redis=redis,
                                   gate=ShowGate(access),
                                   on_published=analytics.published if analytics.enabled else None)
    policy = server_policy(settings.relay_allow_private, (settings.http_bind, settings.rtmp_bind),
                           (settings.public_url, settings.public_rtmp))
    targets = TargetStore(engine, KeyBox.from_settings(settings.data_dir, settings.secret_key), policy=policy,
                          max_per_room=settings.relay_max_targets)
    relay = RelaySupervisor(live.hub, targets, ca_bundle=settings.relay_ca_bundle or None,
                            on_state=lambda slug, status: router.emit(RelayStateChanged(slug, status)))
    secrets = money.webhook_secrets(settings)
    sender = money.WebhookSender(settings.base_url + money.WEBHOOK_PATH)
    provider = money.make_provider(settings, sender, secrets)
    ledger = Ledger(engine)
    book = money.make_book(engine, ledger, settings)
    rail = money.make_rail(provider)
    payout_accounts, settlement = make_settlement(settings, engine, ledger, rail)
    services = Services(settings=settings, engine=engine, store=store, bus=bus, router=router,
                        gateway=gateway, live=live, targets=targets, relay=relay, directory=live.directory, ledger=ledger, book=book,
                        provider=provider, webhook_secrets=secrets, webhook_sender=sender, redis=redis,
                        ticketing=ticketing, viewing=viewing, access=access, rail=rail,
                        payout_accounts=payout_accounts, settlement=settlement, whep_watch=WhepWatch(access),
                        recordings=Recordings(recordings_root(settings.recordings_dir, settings.data_dir),
                                              live.hub, ticketing, grace_h=settings.recording_grace_h,
                                              sweep_s=settings.recording_sweep_s, room=store.room_row),
                        analytics=analytics,
                        sessions=SessionCache(settings.session_cache_s, redis, settings.redis_prefix))
    if isinstance(provider, SandboxProvider):  # its events reach our webhook route in process
        provider.attach(webhooks.LocalDelivery(services))
    reactions.install(router, gateway, live, book, provider)
    reactions.install_payouts(router, PayoutEvents(settlement), TransferReversals(settlement))
    reactions.install_tickets(router, services)
    reactions.install_recordings(router, gateway, services.recordings)
    reactions.install_analytics(router, analytics)
    _parts(services)
    return services


def show_ends(engine: AsyncEngine) -> ShowEnds:
    """Settlement's view of ticketing: when each show ends (``ends_at``; None when unset)."""

    async def ends(ids: Sequence[str]) -> Mapping[str, float | None]:
        sh = ticket_tables.shows.c
        async with engine.connect() as conn:
            return {i: e for i, e in await conn.execute(sa.select(sh.id, sh.ends_at).where(sh.id.in_(list(ids))))}

    return ends


def make_settlement(settings: Settings, engine: AsyncEngine, ledger: Ledger, rail: PayoutRail,
                    clock: Callable[[], float] | None = None) -> tuple[PayoutAccounts, Settlement]:
    """The settlement job and what it reads; ``clock`` (tests) defaults to the ledger's."""
    accounts = PayoutAccounts(engine, ledger.store.clock)
    settlement = Settlement(engine, ledger, accounts, rail, hold_s=settings.payout_hold_s,
                            claim_s=settings.payout_claim_s, clock=clock or ledger.store.clock,
                            show_ends=show_ends(engine))
    reversals = TransferReversals(settlement)

    async def before_run() -> object:
        await splits.sweep(engine, ledger)  # claimed invitations' late credits join their claimers first
        return await reversals.run()

    settlement.before_run = before_run
    return accounts, settlement


def _parts(s: Services) -> None:
    async def attach_relay() -> None:
        s.relay.attach()

    async def close_payments() -> None:
        await s.provider.close()
        await s.webhook_sender.close()

    async def close_gateway() -> None:
        await s.gateway.close(code=1012)

    life = s.lifecycle
    life.add("database", stop=s.engine.dispose)
    if s.redis is not None:
        life.add("redis", stop=s.redis.aclose)
    life.add("sessions", start=s.sessions.start, stop=s.sessions.stop)
    life.add("bus", start=s.bus.start, stop=s.bus.close)
    life.add("payments", start=s.webhook_sender.start, stop=close_payments)
    timer = PayoutTimer(s.settlement, s.settings.payout_interval_s)
    life.add("payouts", start=timer.start, stop=timer.stop)
    life.add("router", stop=s.router.close)
    life.add("viewing", start=s.whep_watch.start, stop=s.whep_watch.stop)
    life.add("recordings", start=s.recordings.start, stop=s.recordings.stop)
    life.add("analytics", start=s.analytics.start, stop=s.analytics.stop)
    life.add(INTAKE, start=s.gateway.start, stop=close_gateway)
    life.add("directory", start=s.directory.start, stop=s.directory.close)
    life.add("relay", start=attach_relay, stop=s.relay.close)
    life.add("rtmp", start=s.live.start_rtmp, stop=s.live.stop_rtmp)
