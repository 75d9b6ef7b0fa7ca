"""Royalty rules: revenue in, ledger legs out. Pure functions, no I/O.

A ticket sale, tip or song-request boost of ``gross`` minor units becomes these legs:

1. the processor's clearing account: ``-gross`` (money came in through the processor);
2. the processor's fee: ``+fee``;
3. the platform commission: ``commission_bps`` of the gross (default 10% for tickets, tips and
   boosts), floored; never more than what is left after the fee;
4. the show's royalty pool: ``performance_bps`` of the net (gross less fee and commission)
   for the kinds in ``performance_kinds`` when a show is named; the pool is later divided
   across the songs performed (``plan_performance``);
5. the rest split by the room's split sheet (floored, leftover units in sheet order);
6. recoupment: an artist or band share of a party that owes (unrecouped advance, lost dispute)
   goes first to that party's ``recoupable`` account, up to what is owed. Songwriter and
   publisher royalties and other parties' shares are never recouped.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from payments.accounts import (
    PLATFORM,
    AccountKind,
    AccountRef,
    account_ref,
    check_currency,
    check_positive,
    processor_party,
    show_party,
)
from payments.errors import InvalidAmount, UnbalancedTransaction
from payments.splits import Role, SplitSheet, allocate, bps_of

RECOUP_ROLES = frozenset({Role.ARTIST, Role.BAND})


class RevenueKind(enum.Enum):
    TICKET = "ticket"
    TIP = "tip"
    BOOST = "boost"


@dataclass(frozen=True)
class RoyaltyPolicy:
    """Platform commission and performance royalty, in basis points."""

    ticket_commission_bps: int = 1_000
    tip_commission_bps: int = 1_000
    boost_commission_bps: int = 1_000
    performance_bps: int = 1_000
    performance_kinds: frozenset[RevenueKind] = frozenset({RevenueKind.TICKET})

    def commission_bps(self, kind: RevenueKind) -> int:
        return {
            RevenueKind.TICKET: self.ticket_commission_bps,
            RevenueKind.TIP: self.tip_commission_bps,
            RevenueKind.BOOST: self.boost_commission_bps,
        }[kind]


@dataclass(frozen=True)
class Leg:
    """One posting before it is written: an account and a signed amount in minor units."""

    account: AccountRef
    amount: int


@dataclass(frozen=True)
class Revenue:
    """Money a fan paid: a ticket, a tip or a song-request boost."""

    gross: int
    currency: str
    sheet: SplitSheet
    fee: int = 0
    processor: str = "sandbox"
    room: str = ""
    show: str | None = None
    payer: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        check_positive(self.gross, "gross")
        check_currency(self.currency)
        if type(self.fee) is not int or not 0 <= self.fee <= self.gross:
            raise InvalidAmount(f"fee must be an integer between 0 and the gross, got {self.fee!r}")

    def canonical(self) -> list[object]:
        return [
            self.gross, self.currency, self.sheet.canonical(), self.fee, self.processor,
            self.room, self.show, self.payer, self.note,
        ]

    def accounts(self) -> list[AccountRef]:
        cur = self.currency
        refs = [
            account_ref(processor_party(self.processor), AccountKind.CLEARING, cur),
            account_ref(processor_party(self.processor), AccountKind.FEE, cur),
            account_ref(PLATFORM, AccountKind.COMMISSION, cur),
        ]
        if self.show is not None:
            refs.append(account_ref(show_party(self.show), AccountKind.ROYALTY_POOL, cur))
        for s in self.sheet.shares:
            refs.append(account_ref(s.party, AccountKind.EARNINGS, cur))
            if s.role in RECOUP_ROLES:
                refs.append(account_ref(s.party, AccountKind.RECOUPABLE, cur))
        return refs


def merge(legs: Iterable[Leg]) -> list[Leg]:
    """Legs on the same account added up, zeros dropped, first-seen order kept."""
    totals: dict[AccountRef, int] = {}
    for leg in legs:
        totals[leg.account] = totals.get(leg.account, 0) + leg.amount
    return [Leg(a, v) for a, v in totals.items() if v != 0]


def check_balanced(legs: Iterable[Leg]) -> None:
    """Raise ``UnbalancedTransaction`` unless the legs sum to zero in every currency."""
    sums: dict[str, int] = {}
    for leg in legs:
        sums[leg.account.currency] = sums.get(leg.account.currency, 0) + leg.amount
    bad = {c: v for c, v in sums.items() if v != 0}
    if bad:
        raise UnbalancedTransaction(f"postings do not sum to zero: {bad}")


def plan_revenue(
    kind: RevenueKind, rev: Revenue, policy: RoyaltyPolicy, debts: Mapping[str, int]
) -> list[Leg]:
    """The legs of one sale, tip or boost; ``debts`` maps a party to what it still owes (>= 0)."""
    cur = rev.currency
    commission = min(bps_of(rev.gross, policy.commission_bps(kind)), rev.gross - rev.fee)
    net = rev.gross - rev.fee - commission
    pool = 0
    if rev.show is not None and kind in policy.performance_kinds:
        pool = bps_of(net, policy.performance_bps)
    legs = [
        Leg(account_ref(processor_party(rev.processor), AccountKind.CLEARING, cur), -rev.gross),
        Leg(account_ref(processor_party(rev.processor), AccountKind.FEE, cur), rev.fee),
        Leg(account_ref(PLATFORM, AccountKind.COMMISSION, cur), commission),
    ]
    if pool:
        assert rev.show is not None
        legs.append(Leg(account_ref(show_party(rev.show), AccountKind.ROYALTY_POOL, cur), pool))
    for share, part in zip(rev.sheet.shares, rev.sheet.split(net - pool), strict=True):
        owed = debts.get(share.party, 0) if share.role in RECOUP_ROLES else 0
        recoup = min(part, owed) if part > 0 and owed > 0 else 0
        legs.append(Leg(account_ref(share.party, AccountKind.EARNINGS, cur), part - recoup))
        if recoup:
            legs.append(Leg(account_ref(share.party, AccountKind.RECOUPABLE, cur), recoup))
    out = merge(legs)
    check_balanced(out)
    return out


@dataclass(frozen=True)
class Advance:
    """Money advanced to an artist, recouped later from that artist's own shares."""

    party: str
    amount: int
    currency: str
    note: str = ""

    def __post_init__(self) -> None:
        check_positive(self.amount)
        check_currency(self.currency)

    def canonical(self) -> list[object]:
        return [self.party, self.amount, self.currency, self.note]

    def legs(self) -> list[Leg]:
        return [
            Leg(account_ref(self.party, AccountKind.RECOUPABLE, self.currency), -self.amount),
            Leg(account_ref(self.party, AccountKind.EARNINGS, self.currency), self.amount),
        ]


@dataclass(frozen=True)
class PerformedSong:
    """A song played in a show, with its songwriter/publisher split sheet (IPI and PRO on shares)."""

    title: str
    sheet: SplitSheet
    iswc: str = ""
    performed_at: float = 0.0
    duration_s: int = 0

    def canonical(self) -> list[object]:
        return [self.title, self.sheet.canonical(), self.iswc, self.performed_at, self.duration_s]


@dataclass(frozen=True)
class Performance:
    """The setlist of a show; recording it divides the show's royalty pool across its songs."""

    show: str
    room: str
    currency: str
    songs: tuple[PerformedSong, ...]

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not self.songs:
            raise InvalidAmount("a performance needs at least one song")

    def canonical(self) -> list[object]:
        return [self.show, self.room, self.currency, [s.canonical() for s in self.songs]]

    @property
    def pool(self) -> AccountRef:
        return account_ref(show_party(self.show), AccountKind.ROYALTY_POOL, self.currency)

    def accounts(self) -> list[AccountRef]:
        refs = [self.pool]
        for song in self.songs:
            refs += [account_ref(s.party, AccountKind.EARNINGS, self.currency) for s in song.sheet.shares]
        return refs


def plan_performance(perf: Performance, pool_balance: int) -> list[Leg]:
    """Empty the pool across the songs (by duration when every song has one, else equally)."""
    if pool_balance <= 0:
        return []
    durations = [s.duration_s for s in perf.songs]
    weights = durations if all(d > 0 for d in durations) else [1] * len(durations)
    legs = [Leg(perf.pool, -pool_balance)]
    for song, amount in zip(perf.songs, allocate(pool_balance, weights), strict=True):
        for share, part in zip(song.sheet.shares, song.sheet.split(amount), strict=True):
            legs.append(Leg(account_ref(share.party, AccountKind.EARNINGS, perf.currency), part))
    out = merge(legs)
    check_balanced(out)
    return out
