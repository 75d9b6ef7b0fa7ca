"""Settings: every one has a command-line flag, a ``NOTALABEL_*`` environment variable and a default.

Precedence is flag, then environment, then default. The table of settings is ``SETTINGS``;
``notalabel serve --help`` prints it.
"""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def parse_hostport(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:PORT`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass(frozen=True)
class Settings:
    http: str = field(default="127.0.0.1:8080", metadata={"help": "HTTP listen address HOST:PORT"})
    rtmp: str = field(default="127.0.0.1:1935", metadata={"help": "RTMP listen address HOST:PORT"})
    data_dir: str = field(default="./var", metadata={"help": "directory for the SQLite file and other data"})
    database: str = field(
        default="",
        metadata={"help": "sqlite:///PATH or postgresql://user@host:port/db (default: SQLite in the data dir)"},
    )
    redis: str = field(default="", metadata={"help": "redis://host:port/db for the shared event bus (default: in-process)"})
    redis_prefix: str = field(default="nal", metadata={"help": "key prefix for everything this server keeps in Redis"})
    public_url: str = field(default="", metadata={"help": "base URL as users reach it (default: http://HTTP)"})
    node_url: str = field(
        default="",
        metadata={"help": "base URL other nodes reach this one at, for the room directory and LL-HLS edges "
                          "(default: http://HTTP, the host name for a wildcard address)"})
    public_rtmp: str = field(default="", metadata={"help": "RTMP base URL as OBS reaches it (default: rtmp://RTMP/live)"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    log_format: str = field(default="json", metadata={"help": "json or text"})
    cookie_secure: bool = field(default=False, metadata={"help": "mark session cookies Secure (behind HTTPS)"})
    session_ttl_s: int = field(default=30 * 24 * 3600, metadata={"help": "session lifetime in seconds"})
    session_cache_s: float = field(
        default=2.0, metadata={"help": "seconds a node keeps a session it read, so a signed-in request needs no "
                                       "database read (an ended session is dropped at once, on every node with "
                                       "Redis); 0: read every time"})
    socket_ticket_ttl_s: float = field(default=60.0, metadata={"help": "seconds a room socket ticket (POST /api/rooms/{slug}/socket-ticket) stays valid"})
    password_workers: int = field(default=2, metadata={"help": "threads that hash and check passwords (argon2 releases the GIL)"})
    password_nice: int = field(default=10, metadata={"help": "how many steps lower than the server the hashing threads run (nice), so log-in floods do not starve the event loop; 0 keeps them equal"})
    password_queue: int = field(default=32, metadata={"help": "password jobs that may wait for a thread; past that sign-up and log-in answer 503"})
    login_account_attempts: int = field(default=10, metadata={"help": "failed log-ins per account per --login-window-s before 429"})
    login_address_attempts: int = field(default=30, metadata={"help": "failed log-ins per client address per --login-window-s before 429"})
    login_window_s: float = field(default=300.0, metadata={"help": "seconds in which the failed log-in allowances refill"})
    max_ws_frame: int = field(default=16 * 1024, metadata={"help": "largest room socket frame accepted, bytes"})
    ws_buffer: int = field(default=512, metadata={"help": "outbound frames queued per room socket before it is a slow consumer"})
    ws_heartbeat_s: float = field(default=20.0, metadata={"help": "room socket ping interval, seconds"})
    ws_guests_per_address: int = field(
        default=20,
        metadata={"help": "room sockets of guests (not signed in) per client address on this node; 0: no limit. "
                          "Behind a proxy every guest has the proxy's address: cap there and set 0"})
    ws_sockets_per_user: int = field(default=20, metadata={"help": "room sockets per signed-in user on this node; 0: no limit"})
    ws_max_sockets: int = field(default=20000, metadata={"help": "room sockets on this node in all; 0: no limit"})
    history_events: int = field(default=1000, metadata={"help": "room events kept for reconnect recovery"})
    history_s: int = field(default=120, metadata={"help": "seconds of room events kept for reconnect recovery"})
    chat_fan_messages: int = field(default=20, metadata={"help": "chat messages a fan may send per --chat-window-s in a room (on all nodes together, with Redis)"})
    chat_staff_messages: int = field(default=100, metadata={"help": "chat messages the owner or a host may send per --chat-window-s in a room"})
    chat_window_s: float = field(default=30.0, metadata={"help": "seconds in which the chat allowances refill (token bucket)"})
    reconnect_grace_s: float = field(default=10.0, metadata={"help": "seconds a dropped publisher may reconnect and keep its viewers"})
    webrtc_ice_servers: str = field(default="", metadata={"help": "comma-separated STUN/TURN servers: stun:host:port, turn:USER:PASS@host:port"})
    webrtc_udp_ports: str = field(default="", metadata={"help": "UDP port range MIN-MAX for WebRTC (default: any)"})
    webrtc_public_ip: str = field(default="", metadata={"help": "public IP announced in host candidates (1:1 NAT)"})
    webrtc_host_addresses: str = field(default="", metadata={"help": "comma-separated local IPs to gather candidates on (default: all but loopback)"})
    webrtc_max_publishers: int = field(default=50, metadata={"help": "WHIP sessions at once (a pool apart from viewers')"})
    webrtc_max_viewers: int = field(default=500, metadata={"help": "WHEP sessions at once"})
    webrtc_max_viewers_per_address: int = field(default=10, metadata={"help": "WHEP sessions at once from one client address (IPv6: per /64; 0: no cap, e.g. behind a proxy)"})
    webrtc_max_viewers_per_room: int = field(default=300, metadata={"help": "WHEP sessions at once in one room (others can use LL-HLS)"})
    webrtc_connect_timeout_s: float = field(default=10.0, metadata={"help": "seconds a WHIP/WHEP session may take to connect before it is dropped"})
    publish_key_failures: int = field(default=5, metadata={"help": "wrong stream keys from one address (per room for WHIP) before it must wait"})
    publish_key_block_s: float = field(default=300.0, metadata={"help": "seconds an address waits after too many wrong stream keys"})
    drain_s: float = field(default=10.0, metadata={"help": "seconds SIGTERM waits for in-flight work"})
    http_header_timeout_s: float = field(
        default=10.0, metadata={"help": "seconds a client has to send a request's head (line and headers); 0: no limit"})
    http_body_timeout_s: float = field(
        default=30.0, metadata={"help": "seconds a client has to send a request's body once the head is in; 0: no limit"})
    http_keepalive_s: float = field(default=75.0, metadata={"help": "seconds an idle keep-alive HTTP connection stays open"})
    hls_fast_path: bool = field(
        default=True, metadata={"help": "serve LL-HLS (/live/) on the connection itself from prebuilt answers, "
                                        "below aiohttp's request machinery (same answers; off: aiohttp serves them)"})
    http_conns_per_address: int = field(
        default=128,
        metadata={"help": "open HTTP connections per peer address; behind a proxy every client has the proxy's address, "
                          "so set 0 (no limit) and cap at the proxy"})
    http_max_connections: int = field(default=20000, metadata={"help": "open HTTP connections in all; 0: no limit"})
    min_free_disk_mb: int = field(default=256, metadata={"help": "/readyz fails when the data dir's disk has less free space, MiB"})
    readyz_timeout_s: float = field(default=2.0, metadata={"help": "seconds each /readyz check may take"})
    metrics_token: str = field(default="", metadata={"help": "when set, /metrics needs Authorization: Bearer TOKEN"})
    metrics_http: str = field(
        default="", metadata={"help": "HOST:PORT: serve /metrics on a listener of its own (and not on the main one)"})
    max_rooms_per_account: int = field(default=20, metadata={"help": "rooms one account may own; 0: no limit"})
    room_creates_per_hour_per_account: int = field(default=10, metadata={"help": "rooms one account may create per hour; 0: no limit"})
    room_creates_per_hour_per_address: int = field(default=30, metadata={"help": "rooms created per hour from one address; 0: no limit"})
    signups_per_hour_per_address: int = field(default=20, metadata={"help": "accounts created per hour from one address; 0: no limit"})
    max_songs_per_room: int = field(default=1000, metadata={"help": "songs in one room's catalog at most"})
    thumbnail_interval_s: float = field(
        default=5.0, metadata={"help": "seconds a live room's thumbnail (its latest keyframe as a JPEG) is served "
                                       "before a new one is decoded; one decode at a time for all rooms"})
    thumbnail_width: int = field(default=480, metadata={"help": "width in pixels of live rooms' thumbnails"})
    embed_ancestors: str = field(
        default="*",
        metadata={"help": "sites that may frame the player /embed/{slug} (CSP frame-ancestors sources, space-separated; "
                          "'*': any); every other page refuses to be framed"})
    ticket_hold_s: float = field(
        default=600.0, metadata={"help": "seconds a ticket order holds its seat while the buyer pays"})
    viewing_token_ttl_s: float = field(
        default=60.0, metadata={"help": "seconds a viewing token (LL-HLS, WHEP bearer) stays valid; "
                                        "players renew it by heartbeat every ~15 s"})
    recordings_dir: str = field(
        default="", metadata={"help": "directory where shows are recorded for replay (default: DATA_DIR/recordings)"})
    recording_grace_h: float = field(
        default=24.0, metadata={"help": "hours a recording is kept after its show's replay window closed, "
                                        "before the retention job deletes it (unless its performer keeps it)"})
    recording_sweep_s: float = field(
        default=600.0, metadata={"help": "seconds between runs of the recordings retention job (0: off)"})
    secret_key: str = field(
        default="",
        metadata={"help": "secret that seals restream stream keys at rest (default: a 0600 file made in the data dir)"},
    )
    relay_ca_bundle: str = field(
        default="", metadata={"help": "PEM CA bundle trusted for RTMPS restream targets, besides the system store"}
    )
    relay_allow_private: bool = field(
        default=False,
        metadata={"help": "let restream targets reach loopback and private addresses (a local or LAN ingest); "
                          "link-local, multicast, reserved and this server's own ports stay refused"},
    )
    relay_max_targets: int = field(default=5, metadata={"help": "restream targets a room may have"})
    payments: str = field(default="sandbox", metadata={"help": "payment provider: sandbox (test payments) or stripe"})
    stripe_secret_key: str = field(default="", metadata={"help": "Stripe secret API key (sk_...), with --payments stripe"})
    stripe_webhook_secret: str = field(
        default="",
        metadata={"help": "webhook signing secrets (whsec_...), comma-separated during a rotation "
                          "(sandbox default: a 0600 file made in the data dir)"},
    )
    stripe_api_base: str = field(default="", metadata={"help": "Stripe API base URL (default https://api.stripe.com; tests point it at a double)"})
    sandbox_redeliver: bool = field(
        default=False, metadata={"help": "sandbox: deliver every webhook twice and older events after newer (tests)"}
    )
    checkout_expiry_s: int = field(default=3600, metadata={"help": "seconds a checkout session stays open (Stripe: more than 1800, at most 86400)"})
    payment_fee_bps: int = field(default=290, metadata={"help": "processor fee booked in the ledger: basis points of the gross"})
    payment_fee_fixed: int = field(default=30, metadata={"help": "processor fee booked in the ledger: fixed minor units per payment"})
    db_pool_size: int = field(
        default=30, metadata={"help": "PostgreSQL connections this process opens as it needs them and keeps open "
                                      "(a steady load needs about its concurrent database work; each one is a "
                                      "server process)"})
    db_pool_overflow: int = field(
        default=0, metadata={"help": "PostgreSQL connections opened beyond --db-pool-size in a burst, closed after "
                                     "use (each such burst pays a new connection, its handshake and its "
                                     "statements' preparation again)"})
    webhook_batch_max: int = field(
        default=200,
        metadata={"help": "payment webhooks that arrive together are applied in one database transaction, at most "
                          "this many (group commit; each event still deduplicated and posted on its own); 1: one each"})
    payout_hold_s: float = field(
        default=7 * 86_400.0,
        metadata={"help": "seconds earnings wait before settlement pays them out (the refund and dispute window)"})
    payout_interval_s: float = field(
        default=0.0, metadata={"help": "run settlement every this many seconds inside serve (0: off; use "
                                       "'notalabel payouts run' from cron)"})
    payout_claim_s: float = field(
        default=120.0, metadata={"help": "seconds one node holds a payout while it talks to the provider"})
    analytics_sample_s: float = field(
        default=10.0, metadata={"help": "seconds between show analytics samples (concurrent viewers, stream "
                                        "health) and between their writes to the database; 0: record none"})
    payout_kill_after: int = field(
        default=0, metadata={"help": "tests only: 'notalabel payouts run' kills itself (SIGKILL) after this many "
                                     "transfers, before their ledger steps (0: never)"})

    @property
    def http_bind(self) -> tuple[str, int]:
        return parse_hostport(self.http)

    @property
    def rtmp_bind(self) -> tuple[str, int]:
        return parse_hostport(self.rtmp)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{Path(self.data_dir) / 'notalabel.sqlite3'}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = self.http_bind
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    @property
    def internal_url(self) -> str:
        if self.node_url:
            return self.node_url.rstrip("/")
        host, port = self.http_bind
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"http://{host}:{port}"

    @property
    def rtmp_url(self) -> str:
        if self.public_rtmp:
            return self.public_rtmp.rstrip("/")
        host, port = self.rtmp_bind
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"rtmp://{host}:{port}/live"


def env_name(name: str) -> str:
    return "NOTALABEL_" + name.upper()


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per setting; the environment supplies the default."""
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} [env {env_name(f.name)}, default {f.default!r}]"
        if f.type in (bool, "bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=help_text)


def load(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build settings from parsed flags, then the environment, then defaults."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = getattr(args, f.name, None) if args is not None else None
        if raw is None:
            raw = environ.get(env_name(f.name))
        if raw is not None:
            values[f.name] = raw if isinstance(raw, bool) else _coerce(f.type, str(raw))
    settings = Settings(**values)
    settings.http_bind  # noqa: B018 - validate early
    settings.rtmp_bind  # noqa: B018
    if settings.metrics_http:
        parse_hostport(settings.metrics_http)
    return settings
