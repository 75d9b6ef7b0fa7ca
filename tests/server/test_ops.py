"""Operations: request ids and JSON 500s, /readyz reasons (database, disk), /metrics restricted."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import drop_pg_schema
from tests.support.servers import free_port
from tests.support.tcpproxy import TcpProxy


async def _client(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> Any:
    from server.app import make_app
    from server.config import Settings

    values: dict[str, Any] = {"data_dir": str(tmp_path), "http": f"127.0.0.1:{free_port()}", **settings}
    values.setdefault("database", f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    app = await make_app(Settings(**values))

    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug in a handler")

    async def boom_after_upgrade(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        raise RuntimeError("a bug after the upgrade")

    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/ws-boom", boom_after_upgrade)
    return await aiohttp_client(app)


async def test_unhandled_error_is_json_with_the_request_id_of_the_log_line(
        aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = await _client(aiohttp_client, tmp_path)
    caplog.set_level(logging.ERROR, logger="notalabel.http")
    r = await client.get("/test/boom")
    assert r.status == 500 and r.content_type == "application/json"
    body = await r.json()
    assert body["error"] == "internal"
    assert body["request_id"] and r.headers["X-Request-Id"] == body["request_id"]
    logged = [rec for rec in caplog.records if getattr(rec, "request_id", None) == body["request_id"]]
    assert logged and logged[0].exc_info is not None
    assert "a bug in a handler" not in await r.text()
    metrics = await (await client.get("/metrics")).text()
    assert "nal_internal_errors_total" in metrics


async def test_an_error_after_the_answer_began_closes_the_connection_and_is_logged(
        aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = await _client(aiohttp_client, tmp_path)
    caplog.set_level(logging.ERROR, logger="notalabel.http")
    ws = await client.ws_connect("/test/ws-boom")
    rid = ws._response.headers["X-Request-Id"]  # noqa: SLF001 - the upgrade answer's headers
    msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg  # no 500 written into the socket
    await ws.close()
    assert any(getattr(rec, "request_id", None) == rid for rec in caplog.records)


async def test_every_answer_carries_a_request_id(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, tmp_path)
    seen = set()
    for path in ("/healthz", "/api/rooms/nope", "/no/such/page"):
        r = await client.get(path)
        seen.add(r.headers["X-Request-Id"])
    assert len(seen) == 3
    r = await client.get("/healthz", headers={"X-Request-Id": "proxy-id-1234"})
    assert r.headers["X-Request-Id"] == "proxy-id-1234"
    r = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith tabs"})
    assert r.headers["X-Request-Id"] != "bad id\twith tabs"


async def test_readyz_fails_when_the_disk_is_fuller_than_the_threshold(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, tmp_path)
    assert (await client.get("/readyz")).status == 200
    client = await _client(aiohttp_client, tmp_path / "full", min_free_disk_mb=1 << 40)
    r = await client.get("/readyz")
    assert r.status == 503
    body = await r.json()
    assert body["checks"]["disk"].startswith("error") and "disk" in body["reason"]
    assert body["checks"]["database"] == "ok"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield schema
    drop_pg_schema(schema)


@pytest.fixture
async def pg_proxy(pg_schema: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    """Real PostgreSQL reached through a forwarder the test can cut, in a fresh schema: (proxy, URL)."""
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    yield proxy, f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={pg_schema}"
    await proxy.close()


async def test_readyz_fails_with_a_reason_when_the_database_is_lost(
        aiohttp_client: Any, tmp_path: Path, pg_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = pg_proxy
    client = await _client(aiohttp_client, tmp_path, database=url, readyz_timeout_s=1.0)
    r = await client.get("/readyz")
    assert r.status == 200, await r.text()
    proxy.cut()  # open connections die; new ones are accepted and never answered
    bounded = aiohttp.ClientTimeout(total=20)
    for _ in range(2):  # first the pooled connection fails, then a new one hangs
        r = await client.get("/readyz", timeout=bounded)
        assert r.status == 503
        body = await r.json()
        assert body["checks"]["database"].startswith("error") and "database" in body["reason"]
    assert (await client.get("/healthz")).status == 200


async def test_metrics_token_is_required_when_set(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _client(aiohttp_client, tmp_path, metrics_token="s3cret-metrics")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics"}):
        r = await client.get("/metrics", headers=headers)
        assert r.status == 401 and (await r.json())["error"] == "metrics_auth"
    r = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert r.status == 200
    assert 'nal_refused_total{reason="metrics_auth"}' in await r.text()


async def test_metrics_on_a_listener_of_its_own(server_process: Any) -> None:
    port = free_port()
    srv = server_process(metrics_http=f"127.0.0.1:{port}", metrics_token="tok-123")
    async with aiohttp.ClientSession() as http:
        r = await http.get(f"{srv.url}/metrics")
        assert r.status == 404
        r = await http.get(f"{srv.url}/healthz")
        assert r.status == 200
        r = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status == 401
        r = await http.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer tok-123"})
        assert r.status == 200 and "nal_refused_total" in await r.text()
        r = await http.get(f"http://127.0.0.1:{port}/healthz")
        assert r.status == 404
