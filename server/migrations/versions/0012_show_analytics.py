"""Show analytics: the per-show record (server/analytics_tables.py describes it).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "show_samples",
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("at", sa.Float, primary_key=True),
        sa.Column("webrtc", sa.Integer, nullable=False),
        sa.Column("hls", sa.Integer, nullable=False),
        sa.Column("nodes", sa.Integer, nullable=False, server_default="1"),
        sa.Column("bitrate", sa.BigInteger, nullable=True),
        sa.Column("fps", sa.Float, nullable=True),
        sa.Column("keyframe_ms", sa.Integer, nullable=True),
        sa.Column("reconnects", sa.Integer, nullable=True),
        sa.Column("dropped", sa.BigInteger, nullable=True),
        sa.Column("restreams", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "show_viewers",
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("viewer", sa.String(80), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("watch_s", sa.Float, nullable=False),
    )
    op.create_index("ix_show_viewers_user", "show_viewers", ["user_id"])
    op.create_table(
        "show_minutes",
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("minute", sa.Float, primary_key=True),
        sa.Column("chat", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("moderation", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "show_chatters",
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("messages", sa.Integer, nullable=False),
    )
    op.create_table(
        "show_marks",
        sa.Column("show_id", sa.String(32), sa.ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("label", sa.String(400), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("show_marks")
    op.drop_table("show_chatters")
    op.drop_table("show_minutes")
    op.drop_index("ix_show_viewers_user", table_name="show_viewers")
    op.drop_table("show_viewers")
    op.drop_table("show_samples")
