"""Money out: payout accounts and the settlement job's payouts (payments/tables.py
describes them).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_accounts",
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
    op.create_table(
        "payouts",
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
    )
    op.create_index("ix_payouts_party", "payouts", ["party", "created_at"])
    op.create_index("ix_payouts_state", "payouts", ["state"])


def downgrade() -> None:
    op.drop_index("ix_payouts_state", "payouts")
    op.drop_index("ix_payouts_party", "payouts")
    op.drop_table("payouts")
    op.drop_table("payout_accounts")
