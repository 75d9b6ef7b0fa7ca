"""What settlement may move for one party and currency, show by show.

Money a show earned waits until the show has ended plus the hold period (the refund and
dispute window), then goes out as one payout per payee and show, in the Stripe transfer
group ``show:{id}``. Rules, applied to a party's ``earnings`` account:

- every posting on it (payout steps aside) belongs to the show its transaction names, or
  that the original of a refund or dispute names; postings of no show (tips outside a show,
  advances, claimed invitations) form the ``None`` group;
- a show is *due* once ``end + hold_s <= now``, where ``end`` is the show's ``ends_at``, or
  the time of its last posting when the show has none (or is unknown); the ``None`` group's
  credits are due one by one, ``hold_s`` after they were made;
- what is not due is held: ``held`` is the sum of what the not-yet-due shows and credits
  added (never more than the balance), ``available = balance - held``;
- ``available`` is handed out to the due shows in the order they ended, each up to what it
  earned less what its payouts already took (requested, in transit or paid, less what was
  reversed since); what remains goes out in the day's ``settlement:`` group.

A refund after settlement lowers a show's net below what was paid: nothing more goes out
for it, and the party's balance (negative when the transfer was not reversed) is made good
by later earnings first. Pure: the caller reads the postings and the payouts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SHOW_GROUP = "show:"
DAY_GROUP = "settlement:"


@dataclass(frozen=True)
class Posting:
    amount: int
    at: float
    show: str | None


@dataclass(frozen=True)
class Slice:
    """One payout to make: ``amount`` in ``group`` (``show:{id}`` or ``settlement:{day}``)."""

    group: str
    amount: int
    show: str | None


@dataclass(frozen=True)
class Plan:
    balance: int
    held: int
    available: int
    slices: tuple[Slice, ...]


def day_group(now: float) -> str:
    return DAY_GROUP + time.strftime("%Y-%m-%d", time.gmtime(now))


def show_group(show: str) -> str:
    return SHOW_GROUP + show


def plan(balance: int, postings: Sequence[Posting], ends: Mapping[str, float | None],
         taken: Mapping[str, int], now: float, hold_s: float) -> Plan:
    """``ends``: each show's ``ends_at`` (None or missing: unknown); ``taken``: per group, what
    its live payouts already took."""
    net: dict[str, int] = {}
    last: dict[str, float] = {}
    held_loose = 0
    for p in postings:
        if p.show is None:
            if p.amount > 0 and p.at > now - hold_s:
                held_loose += p.amount
            continue
        net[p.show] = net.get(p.show, 0) + p.amount
        last[p.show] = max(last.get(p.show, p.at), p.at)
    end = {s: ends.get(s) or last[s] for s in net}
    due = sorted((s for s in net if end[s] + hold_s <= now), key=lambda s: (end[s], s))
    waiting = sum(max(0, net[s]) for s in net if s not in due)
    held = min(max(balance, 0), waiting + held_loose)
    available = max(0, balance - held)
    left, slices = available, []
    for s in due:
        amount = min(left, net[s] - taken.get(show_group(s), 0))
        if amount > 0:
            slices.append(Slice(show_group(s), amount, s))
            left -= amount
    if left > 0:
        slices.append(Slice(day_group(now), left, None))
    return Plan(balance, held, available, tuple(slices))
