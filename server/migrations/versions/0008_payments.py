"""Payments: checkouts (tips, boosts), applied webhook event ids, and each room's currency
and tip bounds (payments/tables.py and server/tables.py describe them).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payer", sa.String(200), nullable=False),
        sa.Column("room", sa.String(64), nullable=False, server_default=""),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=True, unique=True),
        sa.Column("payment_intent", sa.String(255), nullable=True),
        sa.Column("charge", sa.String(255), nullable=True),
        sa.Column("refunded", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("dispute", sa.String(255), nullable=True),
        sa.Column("dispute_status", sa.String(32), nullable=True),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_payments_payment_intent", "payments", ["payment_intent"])
    op.create_index("ix_payments_payer", "payments", ["payer", "created_at"])
    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(40), nullable=True),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("currency", sa.String(3), nullable=False, server_default="USD"))
        batch.add_column(sa.Column("tip_min", sa.Integer, nullable=False, server_default="100"))
        batch.add_column(sa.Column("tip_max", sa.Integer, nullable=False, server_default="50000"))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("tip_max")
        batch.drop_column("tip_min")
        batch.drop_column("currency")
    op.drop_table("payment_events")
    op.drop_index("ix_payments_payer", "payments")
    op.drop_index("ix_payments_payment_intent", "payments")
    op.drop_table("payments")
