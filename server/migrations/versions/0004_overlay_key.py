"""Rooms get a secret overlay key for the OBS browser source (/overlay/{room}?key=...).

Existing rooms get a fresh random key each.

Revision ID: 0004
Revises: 0003
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("overlay_key", sa.String(64), nullable=True))
    bind = op.get_bind()
    rooms = sa.table("rooms", sa.column("id", sa.Integer), sa.column("overlay_key", sa.String))
    for (room_id,) in bind.execute(sa.select(rooms.c.id)).all():
        key = "ovl_" + secrets.token_urlsafe(24)
        bind.execute(rooms.update().where(rooms.c.id == room_id).values(overlay_key=key))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("overlay_key")
