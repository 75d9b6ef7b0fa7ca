"""Database engines and migrations.

We accept two URL forms and map them onto SQLAlchemy's async drivers:

- ``sqlite:///PATH`` -> aiosqlite (WAL journal, foreign keys on)
- ``postgresql://user@host:port/db[?schema=NAME]`` -> asyncpg; ``schema`` sets the
  ``search_path`` (created if missing), so test runs can each use a fresh schema.

Migrations are Alembic's, kept in ``server/migrations`` and applied at start.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler

from payments.store import lease

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class DatabaseURLError(ValueError):
    """The database URL is neither sqlite:/// nor postgresql://."""


def split_schema(url: str) -> tuple[str, str | None]:
    """Remove our ``schema=`` query parameter from a PostgreSQL URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def async_url(url: str) -> tuple[str, dict[str, Any], str | None]:
    """Map a user URL to (SQLAlchemy async URL, connect_args, schema)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return "sqlite+aiosqlite:///" + path, {"timeout": 30}, None
    if url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        base, schema = split_schema(url)
        base = "postgresql+asyncpg://" + base.split("://", 1)[1]
        args: dict[str, Any] = {}
        if schema:
            if not SCHEMA_NAME.fullmatch(schema):
                raise DatabaseURLError(f"bad schema name {schema!r} in the database URL: letters, digits and _, "
                                       "starting with a letter or _, at most 63")
            # Quoted, as CREATE SCHEMA names it: unquoted, PostgreSQL would fold MySchema to myschema.
            args["server_settings"] = {"search_path": f'"{schema}"'}
        return base, args, schema
    raise DatabaseURLError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL and foreign keys.

    PostgreSQL keeps ``pool_size`` connections open; up to ``max_overflow`` (default: as many
    again) more are opened in a burst and closed when they come back. Each of those costs a
    new server process and a handshake, so a busy server wants ``pool_size`` near its
    steady concurrency, not the overflow. The pool hands out the connection used last (LIFO),
    so a light load keeps reusing a few warm connections with their prepared statements."""
    sa_url, connect_args, _schema = async_url(url)
    if sa_url.startswith("sqlite"):
        engine = create_async_engine(sa_url, connect_args=connect_args)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    overflow = pool_size if max_overflow is None else max_overflow
    return create_async_engine(sa_url, connect_args=connect_args, pool_size=pool_size, max_overflow=overflow,
                               pool_use_lifo=True)


def reads(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without a transaction: a read of one statement is one round trip (no
    BEGIN and ROLLBACK around it). Only for reads that need no snapshot across statements."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class DriverStatement:
    """A SQLAlchemy statement compiled once for asyncpg, to run on the driver connection
    under a pooled SQLAlchemy one: for a hot read, SQLAlchemy's per-execution work (cache key,
    greenlet, result rows) costs several times the driver's own round trip."""

    def __init__(self, stmt: sa.ClauseElement, engine: AsyncEngine) -> None:
        compiled = stmt.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._defaults = {name: bind.effective_value for name, bind in compiled.binds.items()}
        self._order = list(compiled.positiontup or ())

    def args(self, values: dict[str, Any]) -> list[Any]:
        """The positional arguments for ``values`` (by bind name; literals keep their own)."""
        merged = {**self._defaults, **values}
        return [merged[name] for name in self._order]

    async def fetchrow(self, engine: AsyncEngine, values: dict[str, Any]) -> Any:
        """Run on a driver connection of ``engine``'s pool (``payments.store.lease``, no
        SQLAlchemy connection around it): the first row (by column name), or None."""
        async with lease(engine) as raw:
            return await raw.fetchrow(self.sql, *self.args(values))


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def migrate(engine: AsyncEngine, url: str) -> None:
    """Create the schema if needed and apply every Alembic migration."""
    _sa, _args, schema = async_url(url)
    async with engine.begin() as conn:
        if schema and is_postgres(engine):
            await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    async with engine.begin() as conn:
        if is_postgres(engine):
            # One migrator at a time when several nodes start together.
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(727274)"))
        await conn.run_sync(_upgrade)


def _upgrade(sync_conn: sa.Connection) -> None:
    cfg = _alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")
