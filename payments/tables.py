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
