"""Shows, tiers, orders and tickets as values, and the pure rules that govern them.

Rules:

- A tier has a fixed ``price`` (minor units, 0 means free), or is pay-what-you-want when
  ``min_price`` is set: then ``price`` is the suggested amount and a buyer pays any amount
  from the floor ``min_price`` up to ``PRICE_MAX``.
- ``quantity`` ``None`` is unlimited. What is left is ``quantity − valid tickets − live
  holds``, never below zero; a hold is live while its order is ``held`` and unexpired.
- A tier sells inside its window: ``sales_start <= now < sales_end`` (either bound optional).
- An order moves ``held -> paid`` (a ticket), ``held -> expired | failed`` (the hold is gone),
  and a payment that arrives for an order whose hold expired becomes ``paid`` if a seat is
  still free, else ``refunded_sold_out`` (the money goes back through the provider).
- A ticket is ``valid`` until it is ``refunded`` (by the room's owner, or its payment was
  reversed); a transfer changes its owner and keeps it valid. Comps are tickets without an order.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ticketing.errors import BadPrice, InvalidTier, OffSale, SoldOut

PRICE_MAX = 100_000_000
QUANTITY_MAX = 10_000_000
LATENCY_CLASSES = ("realtime", "standard")


class OrderStatus(enum.Enum):
    HELD = "held"
    PAID = "paid"
    EXPIRED = "expired"
    FAILED = "failed"
    REFUNDED_SOLD_OUT = "refunded_sold_out"


class TicketStatus(enum.Enum):
    VALID = "valid"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Show:
    id: str
    room_id: int
    room_slug: str
    title: str
    starts_at: float
    ends_at: float | None
    currency: str
    replay_hours: int
    created_at: float = 0.0
    record: bool | None = None
    """Whether the show is recorded; None: the default, on when one of its tiers includes replay."""

    def check(self) -> None:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise InvalidTier("ends_at must be after starts_at")
        if not 0 <= self.replay_hours <= 24 * 365:
            raise InvalidTier("replay_hours must be from 0 to 8760")

    def over(self, now: float) -> bool:
        return self.ends_at is not None and now >= self.ends_at

    def recorded(self, tiers: Sequence[Tier]) -> bool:
        """Whether the show is recorded: its ``record``, by default on when a tier includes replay."""
        return self.record if self.record is not None else any(t.replay for t in tiers)


@dataclass(frozen=True)
class Tier:
    id: str
    show_id: str
    name: str
    price: int
    min_price: int | None = None
    quantity: int | None = None
    sales_start: float | None = None
    sales_end: float | None = None
    latency_class: str = "standard"
    chat: bool = True
    replay: bool = False

    @property
    def pay_what_you_want(self) -> bool:
        return self.min_price is not None

    def check(self) -> None:
        if not 0 <= self.price <= PRICE_MAX:
            raise InvalidTier(f"price must be from 0 to {PRICE_MAX}")
        if self.min_price is not None and not 0 < self.min_price <= self.price:
            raise InvalidTier("min_price must be positive and at most price (the suggested amount)")
        if self.quantity is not None and not 0 <= self.quantity <= QUANTITY_MAX:
            raise InvalidTier(f"quantity must be from 0 to {QUANTITY_MAX}, or null for unlimited")
        if self.sales_start is not None and self.sales_end is not None and self.sales_end <= self.sales_start:
            raise InvalidTier("sales_end must be after sales_start")
        if self.latency_class not in LATENCY_CLASSES:
            raise InvalidTier("latency_class must be 'realtime' or 'standard'")

    def on_sale(self, now: float) -> bool:
        if self.sales_start is not None and now < self.sales_start:
            return False
        return self.sales_end is None or now < self.sales_end

    def amount_for(self, offered: int | None) -> int:
        """What the buyer pays: the fixed price, or an offer at or above the floor."""
        if self.min_price is None:
            if offered is not None and offered != self.price:
                raise BadPrice(f"this tier costs exactly {self.price}")
            return self.price
        amount = self.price if offered is None else offered
        if not self.min_price <= amount <= PRICE_MAX:
            raise BadPrice(f"pay at least {self.min_price} (suggested {self.price})")
        return amount

    def remaining(self, sold: int, held: int) -> int | None:
        """Seats left, ``None`` when unlimited."""
        if self.quantity is None:
            return None
        return max(0, self.quantity - sold - held)

    def check_sellable(self, now: float, sold: int, held: int) -> None:
        """Raise unless one more hold may be taken now."""
        if not self.on_sale(now):
            raise OffSale("this tier is not on sale now")
        left = self.remaining(sold, held)
        if left is not None and left <= 0:
            raise SoldOut("this tier is sold out")


@dataclass(frozen=True)
class Order:
    id: str
    show_id: str
    tier_id: str
    user_id: int
    amount: int
    currency: str
    status: OrderStatus
    expires_at: float
    created_at: float
    ticket_id: str | None = None


@dataclass(frozen=True)
class Ticket:
    id: str
    show_id: str
    tier_id: str
    owner_id: int
    status: TicketStatus
    order_id: str | None
    comp: bool
    created_at: float

    @property
    def valid(self) -> bool:
        return self.status is TicketStatus.VALID
