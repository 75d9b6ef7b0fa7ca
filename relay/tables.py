"""The relay's table, described for queries (migration 0003 creates it).

``rooms`` is described here only as far as the relay reads it (id and slug), so that this
package needs nothing from :mod:`server`. Times are float seconds since the epoch (UTC).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False),
)

restream_targets = sa.Table(
    "restream_targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("ingest", sa.String(80), nullable=False),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("key_sealed", sa.Text, nullable=False),
    sa.Column("key_hint", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
