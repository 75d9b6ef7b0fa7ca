"""Ticketing tables (SQLAlchemy Core); a migration in ``server/migrations/versions`` creates them.

- ``shows``: one per scheduled performance in a room (``room_id`` references ``rooms``);
- ``tiers``: a show's ticket kinds; ``lock_seq`` exists to be written first in a sale's
  transaction on SQLite (it takes the single writer lock before anything is read);
- ``orders``: one per purchase attempt; a ``held`` order whose ``expires_at`` is in the future
  is a live hold on one seat;
- ``tickets``: ``order_id`` is unique (one ticket per paid order), null for comps.

Times are float seconds since the epoch (UTC), as in ``server.tables``. Ids are random strings.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

shows = sa.Table(
    "shows",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("room_id", sa.Integer, nullable=False, index=True),
    sa.Column("room_slug", sa.String(64), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("starts_at", sa.Float, nullable=False),
    sa.Column("ends_at", sa.Float, nullable=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("replay_hours", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("record", sa.Boolean, nullable=True),  # migration 0014; NULL: on when a tier has replay
)

tiers = sa.Table(
    "tiers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False, index=True),
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

orders = sa.Table(
    "ticket_orders",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tier_id", sa.String(32), sa.ForeignKey("tiers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("ticket_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_ticket_orders_tier_status", "tier_id", "status", "expires_at"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("tier_id", sa.String(32), sa.ForeignKey("tiers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("owner_id", sa.Integer, nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("order_id", sa.String(32), nullable=True, unique=True),
    sa.Column("comp", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_tickets_tier_status", "tier_id", "status"),
)
