"""Accounts and sessions.

Passwords are argon2id hashes, made and checked in a bounded thread pool (server/passwords.py);
log-ins are throttled per account and per address (server/throttle.py), and every failed one
is logged with the username and address, never the password. A session is one random token:
the browser holds it in an HttpOnly SameSite=Lax cookie, scripts send it as
``Authorization: Bearer`` (or ``?token=`` on the room socket, see server/sockets.py; pages use
single-use socket tickets, server/tickets.py). Only its SHA-256 is stored; sessions are listed
and ended by a public id (server/api_sessions.py). Each node keeps the sessions it read for
a moment (server/session_cache.py); ending one drops it there on every node.

CSRF: a request authenticated by the cookie that changes state (POST, PUT, PATCH, DELETE)
must echo the session's CSRF token in ``X-CSRF-Token``; the token is readable by the page in
the ``nal_csrf`` cookie (double submit, bound to the session). Bearer requests need no CSRF
token because browsers never attach them on their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rooms.ports import Identity
from rooms.ratelimit import Rate
from server import tables as t
from server import usernames
from server.db import DriverStatement
from server.errors import Conflict, Forbidden, TooManyRequests, Unauthorized
from server.httputil import BAD_INPUT, REFUSED
from server.keys import ENGINE, READS, SERVICES, SETTINGS
from server.passwords import DUMMY_HASH, PasswordPool
from server.throttle import LoginThrottle

SESSION_COOKIE = "nal_session"
CSRF_COOKIE = "nal_csrf"
CSRF_HEADER = "X-CSRF-Token"
USERNAME_RE = usernames.USERNAME_RE
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity")
_SESSION: web.RequestKey[Session | None] = web.RequestKey("session")
LAST_SEEN_EVERY_S = 300.0  # a session's last_seen_at is written at most this often
PASSWORDS = web.AppKey("passwords", PasswordPool)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
log = logging.getLogger("notalabel.auth")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup(app: web.Application) -> None:
    """The password pool and the login throttle of this process."""
    settings = app[SETTINGS]
    app[PASSWORDS] = PasswordPool(settings.password_workers, settings.password_queue, settings.password_nice)
    window = settings.login_window_s

    def rate(attempts: int) -> Rate | None:  # 0 turns that throttle off
        return Rate(attempts, window) if attempts > 0 and window > 0 else None

    app[THROTTLE] = LoginThrottle(rate(settings.login_account_attempts), rate(settings.login_address_attempts))
    app.on_cleanup.append(_close_pool)


async def _close_pool(app: web.Application) -> None:
    await asyncio.to_thread(app[PASSWORDS].close)


async def create_account(request: web.Request, username: str, password: str) -> int:
    engine = request.app[ENGINE]
    pw_hash = await request.app[PASSWORDS].hash(password)
    keys = usernames.confusables_keys(username)
    try:
        async with engine.begin() as conn:
            await _refuse_taken_or_confusable(conn, username, keys)
            result = await conn.execute(
                t.users.insert().values(username=username, password_hash=pw_hash, created_at=time.time())
            )
            key = result.inserted_primary_key
            assert key is not None
            user_id = int(key[0])
            await conn.execute(t.username_keys.insert(), [{"key": k, "user_id": user_id} for k in keys])
    except IntegrityError:  # a look-alike signed up between our check and our insert
        raise _confusable() from None
    return user_id


async def _refuse_taken_or_confusable(conn: AsyncConnection, username: str, keys: list[str]) -> None:
    """409 when a user holds one of these keys: the same name in another case, or a look-alike."""
    found = (await conn.execute(
        sa.select(t.username_keys.c.key, t.users.c.username)
        .select_from(t.username_keys.join(t.users, t.users.c.id == t.username_keys.c.user_id))
        .where(t.username_keys.c.key.in_(keys)).limit(1)
    )).first()
    if found is None:
        return
    if found.username.lower() == username.lower():
        BAD_INPUT.labels("username_taken").inc()
        raise Conflict("that username is taken", "username_taken")
    raise _confusable()


def _confusable() -> Conflict:
    BAD_INPUT.labels("username_confusable").inc()
    return Conflict("that username looks too much like one that is taken; choose another",
                    "username_confusable")


async def login(request: web.Request, username: str, password: str) -> tuple[Identity, str, str]:
    """Check the password (throttled, in the pool) and open a session: (identity, token, csrf)."""
    throttle, account, address = request.app[THROTTLE], username.lower(), request.remote or "unknown"
    wait = throttle.attempt(account, address, time.monotonic())
    if wait > 0:
        REFUSED.labels("login_throttled").inc()
        log.warning("login throttled", extra={"username": username, "address": address})
        raise TooManyRequests(f"too many failed log-ins; try again in {math.ceil(wait)} s", wait)
    engine = request.app[ENGINE]
    async with engine.connect() as conn:
        row = (await conn.execute(
            sa.select(t.users.c.id, t.users.c.username, t.users.c.password_hash)
            .where(t.users.c.username == username)
        )).first()
    stored = row.password_hash if row is not None else DUMMY_HASH  # same work: timing does not tell
    if not await request.app[PASSWORDS].verify(stored, password) or row is None:
        BAD_INPUT.labels("bad_login").inc()
        log.warning("login failed", extra={"username": username, "address": address})
        raise Unauthorized("wrong username or password", "bad_login")
    throttle.succeeded(account, address, time.monotonic())
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = time.time()
    ttl = request.app[SETTINGS].session_ttl_s
    async with engine.begin() as conn:
        await conn.execute(t.sessions.insert().values(
            token_hash=token_hash(token), user_id=row.id, csrf=csrf, created_at=now, expires_at=now + ttl,
            id="ses_" + secrets.token_urlsafe(12), last_seen_at=now,
            user_agent=request.headers.get("User-Agent", "")[:200],
        ))
    return Identity(row.id, row.username), token, csrf


async def logout(request: web.Request) -> None:
    token = request_token(request)
    if token:
        hashed = token_hash(token)
        async with request.app[ENGINE].begin() as conn:
            await conn.execute(t.sessions.delete().where(t.sessions.c.token_hash == hashed))
        await request.app[SERVICES].sessions.ended(hashed)


def request_token(request: web.Request) -> str | None:
    """The bearer token of the ``Authorization`` header, else the session cookie."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


_SESSION_READ = (  # one statement object: built and compiled once
    sa.select(t.users.c.id, t.users.c.username, t.sessions.c.csrf, t.sessions.c.expires_at,
              t.sessions.c.id.label("session_id"), t.sessions.c.last_seen_at)
    .select_from(t.sessions.join(t.users, t.users.c.id == t.sessions.c.user_id))
    .where(t.sessions.c.token_hash == sa.bindparam("token_hash")))
_session_read_pg: DriverStatement | None = None


async def _read_session(engine: AsyncEngine, hashed: str) -> Any:
    """The session's row (by column name), or None. On PostgreSQL the statement runs on the
    driver: every signed-in request whose session is not cached reads it."""
    global _session_read_pg
    if engine.dialect.name != "postgresql":
        async with engine.connect() as conn:
            row = (await conn.execute(_SESSION_READ, {"token_hash": hashed})).first()
        return row._mapping if row is not None else None
    if _session_read_pg is None:
        _session_read_pg = DriverStatement(_SESSION_READ, engine)
    return await _session_read_pg.fetchrow(engine, {"token_hash": hashed})


@dataclass(frozen=True)
class Session:
    """A live session: who, its CSRF token, its public id and the hash it is stored under."""

    identity: Identity
    csrf: str
    session_id: str | None
    token_hash: str


async def session_for(request: web.Request, token: str) -> Session | None:
    """The live session of ``token``: from this node's cache (``server.session_cache``), else read."""
    hashed, now = token_hash(token), time.time()
    cache = request.app[SERVICES].sessions
    cached = cache.get(hashed, now)
    if cached is not None:
        return cached
    row = await _read_session(request.app[READS], hashed)
    if row is None or row["expires_at"] < now:
        return None
    if row["last_seen_at"] is None or now - row["last_seen_at"] > LAST_SEEN_EVERY_S:
        async with request.app[ENGINE].begin() as conn:
            await conn.execute(t.sessions.update().where(t.sessions.c.token_hash == hashed).values(last_seen_at=now))
    found = Session(Identity(row["id"], row["username"]), row["csrf"], row["session_id"], hashed)
    cache.put(hashed, found, row["expires_at"])
    return found


async def identify(request: web.Request) -> Identity | None:
    """The signed-in user of this request, or None for a guest. Checks CSRF for cookies."""
    if _IDENTITY in request:
        cached: Identity | None = request[_IDENTITY]
        return cached
    token = request_token(request)
    found = await session_for(request, token) if token else None
    if found is not None and _needs_csrf(request) and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), found.csrf):
        BAD_INPUT.labels("csrf").inc()
        raise Forbidden("missing or wrong X-CSRF-Token header", "csrf")
    request[_SESSION] = found
    request[_IDENTITY] = found.identity if found is not None else None
    return request[_IDENTITY]


async def current_session(request: web.Request) -> Session:
    """The session this request is signed in with (401 for a guest)."""
    await require_user(request)
    found = request[_SESSION]
    assert found is not None
    return found


def _needs_csrf(request: web.Request) -> bool:
    if request.method not in UNSAFE:
        return False
    return not request.headers.get("Authorization", "").lower().startswith("bearer ")


async def require_user(request: web.Request) -> Identity:
    identity = await identify(request)
    if identity is None:
        raise Unauthorized("sign in first")
    return identity


def set_session_cookies(response: web.StreamResponse, request: web.Request, token: str, csrf: str) -> None:
    settings = request.app[SETTINGS]
    common: dict[str, Any] = {"path": "/", "samesite": "Lax", "secure": settings.cookie_secure,
                              "max_age": settings.session_ttl_s}
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)


def clear_session_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
