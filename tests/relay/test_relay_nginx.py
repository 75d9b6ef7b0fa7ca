"""The relay against a real RTMP server no one here wrote: nginx with its RTMP module,
standing in for YouTube and Twitch; ffprobe pulls from nginx like a platform's player."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from prometheus_client import REGISTRY, generate_latest

from media.hub import Hub
from media.units import StreamHeader, Unit
from relay.backoff import Backoff
from relay.destination import DestinationPolicy
from relay.keybox import KeyBox
from relay.store import TargetStore
from relay.supervisor import RelaySupervisor
from server import tables
from server.db import make_engine, migrate
from tests.relay.feed import Show, assert_h264_aac_continuous, feed, load_show, make_show, probe
from tests.relay.nginx import Nginx
from tests.support.servers import bound_socket

SLUG = "friday-show"
YT_KEY = "yt-key-abcd-efgh-1111"
TW_KEY = "live_2222_twitchSecretKey"
FAST = Backoff(base=0.2, cap=1.0, stable_after=5.0)
LOCAL = DestinationPolicy(allow_private=True)  # what --relay-allow-private gives: nginx is on loopback


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Show:
    return load_show(make_show(tmp_path_factory.mktemp("show") / "show.flv", seconds=6))


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    started: list[Nginx] = []

    def start(name: str = "ngx", **kwargs: Any) -> Nginx:
        server = Nginx(tmp_path / name, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Env:
    def __init__(self, store: TargetStore, box: KeyBox, room_id: int, hub: Hub) -> None:
        self.store, self.box, self.room_id, self.hub = store, box, room_id, hub
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.supervisor = RelaySupervisor(hub, store, backoff=FAST, on_state=lambda s, d: self.events.append((s, d)))
        self.feeder: asyncio.Task[None] | None = None

    async def go_live(self, show: Show) -> None:
        self.feeder = asyncio.create_task(feed(self.hub, SLUG, show))
        await until(lambda: self.hub.get(SLUG) is not None, what="stream live")

    async def end_show(self) -> None:
        assert self.feeder is not None
        self.feeder.cancel()
        await asyncio.gather(self.feeder, return_exceptions=True)

    def states(self, target_id: int) -> list[str]:
        return [d["state"] for _, d in self.events if d["id"] == target_id]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    url = f"sqlite:///{tmp_path / 'relay.sqlite3'}"
    engine = make_engine(url)
    await migrate(engine, url)
    async with engine.begin() as conn:
        await conn.execute(tables.users.insert().values(id=1, username="perf", password_hash="x", created_at=0))
        await conn.execute(tables.rooms.insert().values(id=1, slug=SLUG, title="Friday", owner_id=1,
                                                        stream_key_hash="h", created_at=0))
    box = KeyBox(os.urandom(32))
    environment = Env(TargetStore(engine, box, policy=LOCAL), box, 1, Hub(reconnect_grace=0.5))
    environment.supervisor.attach()
    yield environment
    await environment.supervisor.close()
    if environment.feeder is not None:
        await environment.end_show()
    await engine.dispose()


async def until(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)


def state(env: Env, target_id: int) -> str:
    return str(env.supervisor.status(target_id)["state"])


async def test_restream_to_two_platforms(env: Env, nginx: Callable[..., Nginx], show: Show,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = nginx()
    yt = await env.store.create(env.room_id, "custom", YT_KEY, url=server.url("yt"))
    tw = await env.store.create(env.room_id, "custom", TW_KEY, url=server.url("tw"))
    off = await env.store.create(env.room_id, "custom", "disabled-key-0000", url=server.url("tw"), enabled=False)
    await env.go_live(show)
    await until(lambda: state(env, yt.id) == "live" and state(env, tw.id) == "live", what="both targets live")
    results = await asyncio.gather(probe(f"{server.url('yt')}/{YT_KEY}"), probe(f"{server.url('tw')}/{TW_KEY}"))
    for result in results:
        assert_h264_aac_continuous(result)
    assert state(env, off.id) == "idle"
    status = env.supervisor.status(yt.id)
    assert status["bytes"] > 50_000 and status["bitrate"] > 0 and status["uptime"] > 0
    assert status["reconnects"] == 0 and status["drops"] == 0
    metrics = generate_latest(REGISTRY).decode()
    assert f'nal_relay_bytes_total{{target="{SLUG}/{yt.id}"}}' in metrics

    await env.end_show()  # the publisher leaves; after the hub's grace the room is offline
    await until(lambda: state(env, yt.id) == "idle" and state(env, tw.id) == "idle", what="targets stop")
    assert env.states(yt.id)[:2] == ["connecting", "live"] and env.states(yt.id)[-1] == "idle"
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert YT_KEY not in logged and TW_KEY not in logged


async def test_a_target_that_goes_down_retries_and_the_others_never_notice(
        env: Env, nginx: Callable[..., Nginx], show: Show) -> None:
    youtube, twitch = nginx("youtube"), nginx("twitch")
    yt = await env.store.create(env.room_id, "custom", YT_KEY, url=youtube.url("yt"))
    tw = await env.store.create(env.room_id, "custom", TW_KEY, url=twitch.url("tw"))
    await env.go_live(show)
    viewer = env.hub.add_reader(SLUG, "hls")  # stands in for the HLS muxer
    await until(lambda: state(env, yt.id) == "live" and state(env, tw.id) == "live", what="both live")

    youtube.stop()
    await until(lambda: state(env, yt.id) == "retrying", what="youtube target retrying")
    assert env.supervisor.status(yt.id)["next_attempt_at"] > time.time() - 1
    await asyncio.sleep(1.5)  # nginx stays down for a while: the target keeps retrying
    restarted = nginx("youtube2", port=youtube.port)
    await until(lambda: state(env, yt.id) == "live", what="youtube target back")
    assert env.supervisor.status(yt.id)["reconnects"] >= 1
    resumed, other = await asyncio.gather(probe(f"{restarted.url('yt')}/{YT_KEY}"),
                                          probe(f"{twitch.url('tw')}/{TW_KEY}"))
    assert_h264_aac_continuous(resumed)
    assert_h264_aac_continuous(other)
    # The other target never left `live`, and the viewer lost nothing.
    assert env.states(tw.id) == ["connecting", "live"]
    assert env.supervisor.status(tw.id)["reconnects"] == 0
    assert viewer.drops == 0
    times: list[int] = []
    while (item := viewer.read_nowait()) is not None:
        if isinstance(item, Unit) and item.track_id == 1:
            times.append(item.dts)
        assert not isinstance(item, StreamHeader) or item.session == 1
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) > 100 and max(gaps) < 0.2 * 90_000
    viewer.close()


async def test_refused_key_reports_the_reason_and_toggling_while_live(
        env: Env, nginx: Callable[..., Nginx], show: Show) -> None:
    async def on_publish(request: web.Request) -> web.Response:
        form = await request.post()
        return web.Response(status=200 if form.get("name") == TW_KEY else 403)

    app = web.Application()
    app.router.add_post("/on_publish", on_publish)
    runner = web.AppRunner(app)
    await runner.setup()
    hook = bound_socket()
    hook_port = hook.getsockname()[1]
    await web.SockSite(runner, hook).start()
    try:
        server = nginx(on_publish=f"http://127.0.0.1:{hook_port}/on_publish")
        bad = await env.store.create(env.room_id, "custom", "wrong-key-9999", url=server.url("guarded"))
        good = await env.store.create(env.room_id, "custom", TW_KEY, url=server.url("guarded"))
        await env.go_live(show)
        await until(lambda: state(env, bad.id) == "failed" and state(env, good.id) == "live", what="refusal")
        status = env.supervisor.status(bad.id)
        assert "refused" in status["reason"] and "wrong-key-9999" not in status["reason"]
        assert env.states(bad.id) == ["connecting", "failed"]

        # The owner disables the good target while live, then enables it again.
        await env.store.update(env.room_id, good.id, {"enabled": False})
        await env.supervisor.target_changed(good.id)
        assert state(env, good.id) == "idle"
        await env.store.update(env.room_id, good.id, {"enabled": True})
        await env.supervisor.target_changed(good.id)
        await until(lambda: state(env, good.id) == "live", what="re-enabled target live")
        assert_h264_aac_continuous(await probe(f"{server.url('guarded')}/{TW_KEY}"))
        # A fixed key restarts the failed target.
        await env.store.update(env.room_id, bad.id, {"key": TW_KEY + "x"})
        await env.supervisor.target_changed(bad.id)
        await until(lambda: state(env, bad.id) == "failed" and len(env.states(bad.id)) > 3, what="retry of fix")
        await env.store.delete(env.room_id, bad.id)
        await env.supervisor.target_changed(bad.id)
        assert state(env, bad.id) == "idle"
    finally:
        await runner.cleanup()


async def test_rows_hold_no_key(env: Env) -> None:
    await env.store.create(env.room_id, "youtube", YT_KEY)
    async with env.store.engine.connect() as conn:
        raw = str((await conn.execute(sa.text("SELECT * FROM restream_targets"))).all())
    assert YT_KEY not in raw
    spec = (await env.store.specs(SLUG))[0]
    assert spec.key == YT_KEY and YT_KEY not in repr(spec)


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (it is its own CA bundle)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay test ingest")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_rtmps_through_tls_termination_with_a_ca_bundle(
        env: Env, nginx: Callable[..., Nginx], show: Show, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "relay")
    cert, key = make_cert(tmp_path)
    server = nginx(tls=(cert, key))
    target = await env.store.create(env.room_id, "custom", YT_KEY, url=f"rtmps://127.0.0.1:{server.tls_port}/yt")
    await env.go_live(show)
    # Without the bundle the test's certificate is not trusted: retrying; the owner reads a
    # generic reason (it must not tell a TLS port from a closed one), the log says why.
    await until(lambda: state(env, target.id) == "retrying", what="untrusted certificate refused")
    assert env.supervisor.status(target.id)["reason"] == "could not connect"
    assert any("certificate" in rec.getMessage().lower() for rec in caplog.records)
    await env.supervisor.close()

    trusting = RelaySupervisor(env.hub, env.store, backoff=FAST, ca_bundle=str(cert))
    trusting.attach()
    try:
        await until(lambda: trusting.status(target.id)["state"] == "live", what="rtmps target live")
        assert_h264_aac_continuous(await probe(f"{server.url('yt')}/{YT_KEY}"))
    finally:
        await trusting.close()


async def _stalled_ingest(release: asyncio.Event) -> tuple[asyncio.Server, int]:
    """An RTMP server (our own core) that accepts the publish, then never reads again."""
    from media.rtmp.server_session import PublishRequested, ServerSession

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ServerSession()
        accepted = False
        while not accepted and (data := await reader.read(65536)):
            for event in session.receive_data(data):
                if isinstance(event, PublishRequested):
                    session.accept_publish()
                    accepted = True
            writer.write(session.data_to_send())
        await release.wait()  # stalled until the test ends: the relay's socket backs up
        writer.close()

    import socket as socket_module
    sock = socket_module.socket()
    sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_RCVBUF, 4096)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock)
    return server, sock.getsockname()[1]


async def test_a_slow_target_drops_to_keyframes_and_nobody_else_notices(
        env: Env, nginx: Callable[..., Nginx], show: Show) -> None:
    server = nginx()
    release = asyncio.Event()
    stalled, port = await _stalled_ingest(release)
    try:
        slow = await env.store.create(env.room_id, "custom", YT_KEY, url=f"rtmp://127.0.0.1:{port}/live")
        fast = await env.store.create(env.room_id, "custom", TW_KEY, url=server.url("tw"))
        stream = env.hub.start_publish(SLUG, "test:burst", show.tracks)
        viewer = env.hub.add_reader(SLUG, "hls", max_units=100_000, max_bytes=1 << 30)
        await until(lambda: state(env, slow.id) == "live" and state(env, fast.id) == "live", what="both live")
        big = bytes(4) + bytes(100_000 - 4)
        for i in range(400):  # 40 MB in about 2 s: far more than the stalled socket can take
            stream.write(Unit(1, show.tracks[0].kind, i * 3000, i * 3000, i % 30 == 0, big))
            await asyncio.sleep(0.005)
        await until(lambda: env.supervisor.status(slow.id)["drops"] > 0, what=f"slow target drops {env.supervisor.status(slow.id)} {env.events}")
        assert state(env, slow.id) == "live"
        assert env.supervisor.status(fast.id)["drops"] == 0 and state(env, fast.id) == "live"
        assert viewer.drops == 0 and viewer.pending > 0
        assert env.states(fast.id) == ["connecting", "live"]
        env.hub.stop(SLUG)
        await until(lambda: state(env, slow.id) == "idle", what="slow target stopped")
    finally:
        release.set()
        stalled.close()
        await stalled.wait_closed()


class Listening:
    """A plain TCP listener on loopback that counts who connects."""

    def __init__(self) -> None:
        self.connections = 0

    async def __aenter__(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


def _refused(rule: str) -> float:
    return REGISTRY.get_sample_value("nal_relay_destination_refused_total", {"stage": "connect", "rule": rule}) or 0.0


async def test_a_name_for_loopback_is_refused_when_going_live(env: Env, show: Show) -> None:
    """Without allow-private, ``localhost`` passes when saved (it is a name) and is refused
    when the room goes live: nothing connects, the target fails with a generic reason."""
    await env.supervisor.close()  # the fixture's supervisor allows private destinations
    strict_store = TargetStore(env.store.engine, env.box)
    strict = RelaySupervisor(env.hub, strict_store, backoff=FAST)
    strict.attach()
    before = _refused("loopback")
    try:
        async with (listener := Listening()) as port:
            target = await strict_store.create(env.room_id, "custom", YT_KEY, url=f"rtmp://localhost:{port}/live")
            await env.go_live(show)
            await until(lambda: strict.status(target.id)["state"] == "failed", what="localhost refused")
            assert strict.status(target.id)["reason"] == "destination not allowed"
            assert listener.connections == 0
            assert _refused("loopback") == before + 1
    finally:
        await strict.close()
