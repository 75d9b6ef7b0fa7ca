"""Recording settings (issue 13): ``shows.record`` (NULL: the default, on when a tier includes
replay), ``rooms.record`` (its free streams are recorded too) and ``rooms.replay_access``
(who replays the recordings that no show's tier covers: ``owner`` or ``public``).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shows") as batch:
        batch.add_column(sa.Column("record", sa.Boolean, nullable=True))
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("record", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("replay_access", sa.String(8), nullable=False, server_default="owner"))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("replay_access")
        batch.drop_column("record")
    with op.batch_alter_table("shows") as batch:
        batch.drop_column("record")
