"""Money out, per show: where each payout's money came from, what of it was reversed since
(refunds after settlement), the room's split sheet and the invitations of songwriters who
have not joined yet (payments/tables.py and server/tables.py describe them).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("source_transaction", sa.String(255), nullable=True))
        batch.add_column(sa.Column("reversed", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "payout_reversals",
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
    )
    op.create_index("ix_payout_reversals_state", "payout_reversals", ["state"])
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("split_sheet", sa.Text, nullable=True))
    op.create_table(
        "split_invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("split_invitations")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("split_sheet")
    op.drop_index("ix_payout_reversals_state", "payout_reversals")
    op.drop_table("payout_reversals")
    with op.batch_alter_table("payouts") as batch:
        batch.drop_column("reversed")
        batch.drop_column("source_transaction")
