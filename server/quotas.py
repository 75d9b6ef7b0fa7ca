"""Creation quotas: rooms per account and per address, sign-ups per address, rooms owned.

Anyone can sign up and create a room, so both are rationed (``*_per_hour_*`` settings, token
buckets of that many per hour, refilled continuously; ``0`` turns one off). A creation over a
quota answers 429 ``rate_limited`` with ``Retry-After`` and takes nothing; one within takes a
token from every bucket it is counted in. An account owning ``max_rooms_per_account`` rooms
is refused with 409 ``room_quota``. Every refusal is counted in ``nal_refused_total``.

The buckets live in this process: with several nodes each node rations on its own (the rooms
owned are counted in the database, so that cap holds across nodes). Addresses are peer
addresses (an IPv6 peer per /64): behind a proxy set the per-address rates for the proxy.
"""

from __future__ import annotations

import time

from aiohttp import web

from rooms.ratelimit import Rate
from server.config import Settings
from server.errors import TooManyRequests
from server.httpguard import address_key
from server.httputil import REFUSED
from server.keys import SETTINGS
from server.throttle import KeyedBuckets

HOUR_S = 3600.0


def _buckets(per_hour: int) -> KeyedBuckets | None:
    return KeyedBuckets(Rate(per_hour, HOUR_S)) if per_hour > 0 else None


class Quotas:
    """The creation buckets of this process; ``take`` answers 0 or the seconds to wait."""

    def __init__(self, settings: Settings) -> None:
        self.rooms_by_account = _buckets(settings.room_creates_per_hour_per_account)
        self.rooms_by_address = _buckets(settings.room_creates_per_hour_per_address)
        self.signups_by_address = _buckets(settings.signups_per_hour_per_address)

    @staticmethod
    def take(counted: list[tuple[KeyedBuckets | None, str]], now: float) -> float:
        """Take one token from each bucket, or none and answer how long to wait."""
        present = [(buckets, key) for buckets, key in counted if buckets is not None]
        wait = max((buckets.retry_after(key, now) for buckets, key in present), default=0.0)
        if wait > 0:
            return wait
        for buckets, key in present:
            buckets.take(key, now)
        return 0.0


QUOTAS = web.AppKey("quotas", Quotas)


def setup(app: web.Application) -> None:
    """Idempotent: the accounts and the rooms API both need it."""
    if QUOTAS not in app:
        app[QUOTAS] = Quotas(app[SETTINGS])


def _address(request: web.Request) -> str:
    return address_key(request.remote or "unknown")


def _refuse(reason: str, what: str, wait: float) -> TooManyRequests:
    REFUSED.labels(reason).inc()
    return TooManyRequests(f"too many {what} from you; try again in {max(1, round(wait))} s", wait)


def take_room_creation(request: web.Request, user_id: int) -> None:
    """Count a room creation for this account and address, or raise 429."""
    quotas = request.app[QUOTAS]
    wait = quotas.take([(quotas.rooms_by_account, str(user_id)),
                        (quotas.rooms_by_address, _address(request))], time.monotonic())
    if wait > 0:
        raise _refuse("room_creation_rate", "new rooms", wait)


def take_signup(request: web.Request) -> None:
    """Count a sign-up from this address, or raise 429."""
    quotas = request.app[QUOTAS]
    wait = quotas.take([(quotas.signups_by_address, _address(request))], time.monotonic())
    if wait > 0:
        raise _refuse("signup_rate", "sign-ups", wait)
