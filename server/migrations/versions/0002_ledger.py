"""Royalty ledger: accounts, transactions, postings (payments/tables.py describes them).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False, server_default="0"),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("party", "kind", "currency", name="uq_ledger_accounts_ref"),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("idem_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("idem_key", name="uq_ledger_transactions_idem_key"),
    )
    op.create_index(
        "ix_ledger_transactions_ref", "ledger_transactions", ["ref"],
        postgresql_where=sa.text("ref IS NOT NULL"), sqlite_where=sa.text("ref IS NOT NULL"),
    )
    op.create_index("ix_ledger_transactions_created_at", "ledger_transactions", ["created_at"])
    op.create_table(
        "ledger_postings",
        sa.Column("transaction_id", BigId, sa.ForeignKey("ledger_transactions.id"), primary_key=True, autoincrement=False),
        sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", BigId, sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account_id", "transaction_id"])


def downgrade() -> None:
    for name in ("ledger_postings", "ledger_transactions", "ledger_accounts"):
        op.drop_table(name)
