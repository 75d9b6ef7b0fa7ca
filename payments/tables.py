"""Ledger tables (SQLAlchemy Core). ``server/migrations/versions/0002_ledger.py`` creates them.

- ``ledger_accounts``: one row per ``(party, kind, currency)`` with its running ``balance``;
  the only rows ever updated, and only by adding the sum of new postings, under a row lock.
- ``ledger_transactions``: append-only; ``idem_key`` is unique; ``content_hash`` tells a replay
  from a conflicting reuse of a key; ``ref`` links refunds and disputes to the original
  transaction's key and payout steps to ``payout:{id}``; ``meta`` is JSON text.
- ``ledger_postings``: append-only signed amounts in minor units, keyed by
  ``(transaction_id, line)`` (a transaction's legs in order).

Times are float seconds since the epoch (UTC), as in ``server.tables``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

accounts = sa.Table(
    "ledger_accounts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("party", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("flags", sa.Integer, nullable=False, server_default="0"),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("party", "kind", "currency", name="uq_ledger_accounts_ref"),
)

transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("idem_key", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("ref", sa.String(255), nullable=True),
    sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("idem_key", name="uq_ledger_transactions_idem_key"),
    sa.Index(
        "ix_ledger_transactions_ref", "ref",
        postgresql_where=sa.text("ref IS NOT NULL"), sqlite_where=sa.text("ref IS NOT NULL"),
    ),
    sa.Index("ix_ledger_transactions_created_at", "created_at"),
)

postings = sa.Table(
    "ledger_postings",
    metadata,
    sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), primary_key=True, autoincrement=False),
    sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("account_id", BigId, sa.ForeignKey("ledger_accounts.id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Index("ix_ledger_postings_account", "account_id", "transaction_id"),
)

# Checkouts: one row per tip, boost or ticket order a fan started to pay. ``status`` moves
# pending -> processing -> paid -> refunded | charged_back, or pending -> expired | failed
# (payments.checkout has the rules). ``refunded`` is the cumulative amount the provider
# refunded; ``meta`` (JSON) holds what the room shows and the split sheet fixed at checkout.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("payer", sa.String(200), nullable=False),
    sa.Column("room", sa.String(64), nullable=False, server_default=""),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("session_id", sa.String(255), nullable=True, unique=True),
    sa.Column("payment_intent", sa.String(255), nullable=True, index=True),
    sa.Column("charge", sa.String(255), nullable=True),
    sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("dispute", sa.String(255), nullable=True),
    sa.Column("dispute_status", sa.String(32), nullable=True),
    sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_payments_payer", "payer", "created_at"),
)

# Webhook events already applied, by the provider's event id: inserted in the same database
# transaction as the ledger postings they cause, so a redelivery changes nothing.
payment_events = sa.Table(
    "payment_events",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("received_at", sa.Float, nullable=False),
)

# Payout accounts: one per party, at one provider. The state (charges/payouts enabled,
# requirements due) is what the newest ``account.updated`` said (``state_at`` is that
# event's ``created``, so an older event delivered late never overwrites a newer one).
payout_accounts = sa.Table(
    "payout_accounts",
    metadata,
    sa.Column("party", sa.String(200), primary_key=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("account_id", sa.String(255), nullable=False, unique=True),
    sa.Column("charges_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("payouts_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("details_submitted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("requirements_due", sa.Text, nullable=False, server_default="[]"),
    sa.Column("state_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Payouts the settlement job started: ``state`` follows the ledger's payout steps
# (requested -> in_transit -> paid | failed, paid -> returned). ``transfer_group`` is fixed at
# request time so every retry sends the provider the same parameters; ``claimed_until`` is
# a node's short claim while it talks to the provider (safety comes from the idempotency
# keys; the claim only keeps nodes from doing the same work twice).
payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("party", sa.String(200), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("account_id", sa.String(255), nullable=False),
    sa.Column("transfer_group", sa.String(255), nullable=False),
    sa.Column("transfer_id", sa.String(255), nullable=True, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("claimed_until", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # Migration 0013: the charge the transfer draws on (Stripe's ``source_transaction``, fixed
    # at request time like the group) and how much of the payout was reversed since.
    sa.Column("source_transaction", sa.String(255), nullable=True),
    sa.Column("reversed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_payouts_party", "party", "created_at"),
    sa.Index("ix_payouts_state", "state"),
)

# Transfer reversals after a refund (migration 0013): one row per (refund, payout) it takes
# money back from, written before the provider is asked (``requested``) so a crash never
# loses one, and sent with the idempotency key ``reversal:{id}``; ``done`` once the ledger
# step is written, ``failed`` when the provider refused (the negative balance stays, to be
# recouped from later earnings).
payout_reversals = sa.Table(
    "payout_reversals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("payout_id", sa.String(40), sa.ForeignKey("payouts.id"), nullable=False),
    sa.Column("refund_key", sa.String(255), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("reversal_id", sa.String(255), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("claimed_until", sa.Float, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("refund_key", "payout_id", name="uq_payout_reversals_refund_payout"),
    sa.Index("ix_payout_reversals_state", "state"),
)
