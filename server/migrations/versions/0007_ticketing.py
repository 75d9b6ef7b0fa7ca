"""Ticketing: shows, tiers, orders (holds), tickets (ticketing/tables.py describes them).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shows",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("room_slug", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("replay_hours", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_shows_room_id", "shows", ["room_id"])
    op.create_index("ix_shows_room_slug", "shows", ["room_slug"])
    op.create_table(
        "tiers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("min_price", sa.BigInteger, nullable=True),
        sa.Column("quantity", sa.Integer, nullable=True),
        sa.Column("sales_start", sa.Float, nullable=True),
        sa.Column("sales_end", sa.Float, nullable=True),
        sa.Column("latency_class", sa.String(16), nullable=False),
        sa.Column("chat", sa.Boolean, nullable=False),
        sa.Column("replay", sa.Boolean, nullable=False),
        sa.Column("lock_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tiers_show_id", "tiers", ["show_id"])
    op.create_table(
        "ticket_orders",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tier_id", sa.String(32), sa.ForeignKey("tiers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("ticket_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ticket_orders_user_id", "ticket_orders", ["user_id"])
    op.create_index("ix_ticket_orders_tier_status", "ticket_orders", ["tier_id", "status", "expires_at"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tier_id", sa.String(32), sa.ForeignKey("tiers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(32), nullable=True, unique=True),
        sa.Column("comp", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tickets_show_id", "tickets", ["show_id"])
    op.create_index("ix_tickets_owner_id", "tickets", ["owner_id"])
    op.create_index("ix_tickets_tier_status", "tickets", ["tier_id", "status"])


def downgrade() -> None:
    op.drop_table("tickets")
    op.drop_table("ticket_orders")
    op.drop_table("tiers")
    op.drop_table("shows")
