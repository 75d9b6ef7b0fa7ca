"""Foundation tables: accounts, sessions, rooms, hosts, song catalog, bans, timeouts, votes.

Migrations in ``server/migrations/versions`` create these; this module only describes
them for queries. Times are float seconds since the epoch (UTC).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(32), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# server.usernames.confusables_keys of each username; the unique key keeps look-alikes apart.
username_keys = sa.Table(
    "username_keys",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("id", sa.String(32), nullable=True, unique=True),  # public: lists and ends it
    sa.Column("last_seen_at", sa.Float, nullable=True),
    sa.Column("user_agent", sa.String(200), nullable=True),
)

# Single-use room socket tickets (server/tickets.py); ending the session ends its tickets.
socket_tickets = sa.Table(
    "socket_tickets",
    metadata,
    sa.Column("ticket_hash", sa.String(64), primary_key=True),
    sa.Column("session_hash", sa.String(64), sa.ForeignKey("sessions.token_hash", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("room_slug", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("stream_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("latency_class", sa.String(16), nullable=False, server_default="standard"),
    sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("overlay_key", sa.String(64), nullable=True),
    # Money settings (migration 0008): what tips are paid in, and their bounds in minor units.
    sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
    sa.Column("tip_min", sa.Integer, nullable=False, server_default="100"),
    sa.Column("tip_max", sa.Integer, nullable=False, server_default="50000"),
    sa.Column("description", sa.Text, nullable=False, server_default=""),  # migration 0011
    # The split sheet (migration 0013): JSON list of lines, NULL for "the owner gets it all".
    sa.Column("split_sheet", sa.Text, nullable=True),
    # Recording (migration 0014): free streams recorded too; who replays recordings no tier covers.
    sa.Column("record", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("replay_access", sa.String(8), nullable=False, server_default="owner"),
)

# The room's picture (migration 0011), apart from rooms so that room reads never carry it.
room_images = sa.Table(
    "room_images",
    metadata,
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

room_hosts = sa.Table(
    "room_hosts",
    metadata,
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

songs = sa.Table(
    "songs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("artist", sa.String(200), nullable=False, server_default=""),
    sa.Column("iswc", sa.String(20), nullable=True),
    sa.Column("writers", sa.Text, nullable=False, server_default="[]"),
    sa.Column("created_at", sa.Float, nullable=False),
)

room_bans = sa.Table(
    "room_bans",
    metadata,
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("banned_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# A timeout lasts until ``until``; rows past it are ignored and deleted as the room goes.
room_timeouts = sa.Table(
    "room_timeouts",
    metadata,
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("until", sa.Float, nullable=False, index=True),
    sa.Column("timed_out_by", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Who voted for which song request (request ids are the room's, see rooms/songs.py), so a
# node that rebuilds the queue from its last event still allows one vote per user.
song_votes = sa.Table(
    "song_votes",
    metadata,
    sa.Column("room_id", sa.Integer, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Invitations of split-sheet lines whose songwriter or publisher has not joined (migration
# 0013): the line's party is ``invite:{id}`` and its share accrues there until a signed-in
# user claims it with the link's token (only its SHA-256 is stored).
split_invitations = sa.Table(
    "split_invitations",
    metadata,
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
