"""Payout accounts: where a party's money goes, and whether it can go there yet.

One account per party (``user:{id}``) at one provider. With the sandbox the account is
ready at once; with Stripe it is a connected account whose state comes from
``account.updated`` events (charges and payouts enabled, requirements due). An event older
than the state already stored (its ``created``) changes nothing, so late or repeated
deliveries are harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import tables as t
from payments.events import AccountUpdated


@dataclass(frozen=True)
class PayoutAccount:
    party: str
    provider: str
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    requirements_due: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return self.payouts_enabled

    @property
    def reason(self) -> str:
        """Why money does not go out yet ('' when it does)."""
        if self.ready:
            return ""
        if self.requirements_due:
            return "onboarding not finished: " + ", ".join(self.requirements_due[:5])
        return "the provider has not enabled payouts yet"


def not_ready_reason(account: PayoutAccount | None) -> str:
    return "no payout account" if account is None else account.reason


def _row(row: Row[tuple[object, ...]]) -> PayoutAccount:
    m = row._mapping
    return PayoutAccount(str(m["party"]), str(m["provider"]), str(m["account_id"]), bool(m["charges_enabled"]),
                         bool(m["payouts_enabled"]), bool(m["details_submitted"]),
                         tuple(json.loads(str(m["requirements_due"]))))


class PayoutAccounts:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float]) -> None:
        self.engine, self.clock = engine, clock
        self.is_pg = engine.dialect.name == "postgresql"

    async def get(self, party: str) -> PayoutAccount | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.payout_accounts).where(t.payout_accounts.c.party == party))).first()
        return _row(row) if row else None

    async def all(self) -> dict[str, PayoutAccount]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.payout_accounts))).all()
        return {a.party: a for a in map(_row, rows)}

    async def add(self, party: str, provider: str, account_id: str, ready: bool,
                  due: tuple[str, ...] = ()) -> PayoutAccount:
        """Store a new account (the first one wins when two requests race); the stored one."""
        now = self.clock()
        values = {"party": party, "provider": provider, "account_id": account_id, "charges_enabled": ready,
                  "payouts_enabled": ready, "details_submitted": ready, "requirements_due": json.dumps(list(due)),
                  "state_at": 0.0, "created_at": now, "updated_at": now}
        ins = (postgresql.insert if self.is_pg else sqlite.insert)(t.payout_accounts)
        async with self.engine.begin() as conn:
            await conn.execute(ins.values(**values).on_conflict_do_nothing())
        found = await self.get(party)
        assert found is not None
        return found

    async def updated(self, event: AccountUpdated, created: int) -> bool:
        """Apply ``account.updated``; False when the account is not ours or the event is older."""
        c = t.payout_accounts.c
        q = (t.payout_accounts.update()
             .where(c.account_id == event.account, c.state_at <= float(created))
             .values(charges_enabled=event.charges_enabled, payouts_enabled=event.payouts_enabled,
                     details_submitted=event.details_submitted,
                     requirements_due=json.dumps(list(event.requirements_due)),
                     state_at=float(created), updated_at=self.clock()))
        async with self.engine.begin() as conn:
            return (await conn.execute(q)).rowcount > 0

    async def party_of(self, account_id: str) -> str | None:
        c = t.payout_accounts.c
        async with self.engine.connect() as conn:
            found = (await conn.execute(sa.select(c.party).where(c.account_id == account_id))).scalar()
        return found if isinstance(found, str) else None
