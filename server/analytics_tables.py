"""The per-show analytics record (SQLAlchemy Core); migration 0012 creates it.

- ``show_samples``: one row per sample period while the show's stream is live, written once
  for the whole cluster by the node that holds the ingest (``at`` is the period's start, so
  a second writer of the same period is a no-op): concurrent viewers per latency class
  summed over every node, and the stream's health at that moment.
- ``show_viewers``: one row per distinct viewer (``viewer`` is ``t:TICKET``, ``staff:USER``,
  ``u:USER`` of a signed-in client without a ticket, or ``a:HASH`` of an anonymous client),
  its watch time and when it was first and last seen.
- ``show_minutes``: room activity per minute (chat messages, song requests and votes,
  moderation actions), counted on the node where the command was accepted (once).
- ``show_chatters``: messages per chatting user.
- ``show_marks``: song markers (a request that started playing, ``p:``; when it was done,
  ``d:``, kind ``song_end``) and song requests (``r:``), keyed by request id.

Times are float seconds since the epoch (UTC), as everywhere else.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

samples = sa.Table(
    "show_samples",
    metadata,
    sa.Column("show_id", sa.String(32), primary_key=True),
    sa.Column("at", sa.Float, primary_key=True),
    sa.Column("webrtc", sa.Integer, nullable=False),
    sa.Column("hls", sa.Integer, nullable=False),
    sa.Column("nodes", sa.Integer, nullable=False),
    sa.Column("bitrate", sa.BigInteger, nullable=True),
    sa.Column("fps", sa.Float, nullable=True),
    sa.Column("keyframe_ms", sa.Integer, nullable=True),
    sa.Column("reconnects", sa.Integer, nullable=True),
    sa.Column("dropped", sa.BigInteger, nullable=True),
    sa.Column("restreams", sa.Text, nullable=False),
)

viewers = sa.Table(
    "show_viewers",
    metadata,
    sa.Column("show_id", sa.String(32), primary_key=True),
    sa.Column("viewer", sa.String(80), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("watch_s", sa.Float, nullable=False),
)

minutes = sa.Table(
    "show_minutes",
    metadata,
    sa.Column("show_id", sa.String(32), primary_key=True),
    sa.Column("minute", sa.Float, primary_key=True),
    sa.Column("chat", sa.Integer, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("votes", sa.Integer, nullable=False),
    sa.Column("moderation", sa.Integer, nullable=False),
)

chatters = sa.Table(
    "show_chatters",
    metadata,
    sa.Column("show_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("messages", sa.Integer, nullable=False),
)

marks = sa.Table(
    "show_marks",
    metadata,
    sa.Column("show_id", sa.String(32), primary_key=True),
    sa.Column("ref", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("label", sa.String(400), nullable=False),
)
