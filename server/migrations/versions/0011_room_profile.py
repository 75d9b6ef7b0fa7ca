"""Rooms get a description and an image, shown on the watch page while the room is offline.

The image lives in its own table, so room reads never carry its bytes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("description", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "room_images",
        sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_images")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("description")
