"""Sessions get a public id (to list and end them without showing the token), when they
were last seen and the browser that opened them; room sockets get single-use tickets.

Existing sessions get a fresh random id each.

Revision ID: 0006
Revises: 0005
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_seen_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(200), nullable=True))
    bind = op.get_bind()
    sessions = sa.table("sessions", sa.column("token_hash", sa.String), sa.column("id", sa.String))
    for (token_hash,) in bind.execute(sa.select(sessions.c.token_hash)).all():
        bind.execute(sessions.update().where(sessions.c.token_hash == token_hash)
                     .values(id="ses_" + secrets.token_urlsafe(12)))
    op.create_index("ix_sessions_id", "sessions", ["id"], unique=True)
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "socket_tickets",
        sa.Column("ticket_hash", sa.String(64), primary_key=True),
        sa.Column("session_hash", sa.String(64), sa.ForeignKey("sessions.token_hash", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("room_slug", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_socket_tickets_expires_at", "socket_tickets", ["expires_at"])
    op.create_index("ix_socket_tickets_session_hash", "socket_tickets", ["session_hash"])


def downgrade() -> None:
    op.drop_table("socket_tickets")
    op.drop_index("ix_sessions_user_id", "sessions")
    op.drop_index("ix_sessions_id", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("user_agent")
        batch.drop_column("last_seen_at")
        batch.drop_column("id")
