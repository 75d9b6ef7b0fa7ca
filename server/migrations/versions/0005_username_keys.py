"""Usernames' confusables keys (server/usernames.py) under a unique index, so the sign-up
check for look-alike and case-variant names is one indexed lookup.

Existing users get their keys here, oldest first; a key an older user already holds is
not stored again (those two accounts stay as they are; new look-alikes are refused).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from server.usernames import confusables_keys

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "username_keys",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_username_keys_user_id", "username_keys", ["user_id"])
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String))
    keys = sa.table("username_keys", sa.column("key", sa.String), sa.column("user_id", sa.Integer))
    held: set[str] = set()
    for user_id, username in bind.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)).all():
        fresh = [k for k in confusables_keys(username) if k not in held]
        held.update(fresh)
        if fresh:
            bind.execute(keys.insert(), [{"key": k, "user_id": user_id} for k in fresh])


def downgrade() -> None:
    op.drop_index("ix_username_keys_user_id", "username_keys")
    op.drop_table("username_keys")
