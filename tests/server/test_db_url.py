"""The database URL's ``?schema=``: any PostgreSQL-style name we accept is the schema the
server creates and then uses (a quoted search_path: unquoted, PostgreSQL folds MixedCase to
mixedcase and finds no schema), and a name we do not accept is a clear error at start."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.db import DatabaseURLError, async_url, make_engine, migrate
from tests.conftest import drop_pg_schema, pg_url


@pytest.fixture
def mixed_case_schema() -> Iterator[str]:
    schema = "Show_" + uuid.uuid4().hex[:10].upper()
    yield schema
    drop_pg_schema(schema)


async def test_a_mixed_case_schema_is_created_and_used(mixed_case_schema: str) -> None:
    schema = mixed_case_schema
    url = pg_url(schema)
    engine = make_engine(url)
    try:
        await migrate(engine, url)
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT current_schema()")) == schema
            tables = await conn.scalar(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"), {"s": schema})
            assert tables and tables > 10
    finally:
        await engine.dispose()


@pytest.mark.parametrize("schema", ['a"; DROP SCHEMA public; --', "two words", "9lives", "x" * 64, "é"])
def test_a_schema_name_we_do_not_take_is_refused(schema: str) -> None:
    with pytest.raises(DatabaseURLError, match="bad schema name"):
        async_url(f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}")


def test_serve_says_what_is_wrong_with_the_url_and_exits_2(tmp_path: Path) -> None:
    for url, said in (("postgresql://postgres@127.0.0.1:5432/test?schema=a-b", "bad schema name 'a-b'"),
                      ("mysql://x", "unsupported database URL")):
        done = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--http", "127.0.0.1:0", "--rtmp",
                               "127.0.0.1:0", "--data-dir", str(tmp_path), "--database", url],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
