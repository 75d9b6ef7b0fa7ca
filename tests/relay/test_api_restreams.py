"""Restream targets over HTTP: presets, owner-only access, sealed and masked keys, the
destination policy and the limit of targets per room."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from relay.keybox import SECRET_FILE
from server.keys import ENGINE
from tests.support.api import make_room, signup_login
from tests.support.servers import free_port

YT_KEY = "abcd-efgh-ijkl-mnop-qrst"
TW_KEY = "live_123456789_SecretTwitchKeyXYZ"
CUSTOM_KEY = "my-custom-stream-key-9876"


async def _owner_room(api: Any) -> tuple[dict[str, str], str]:
    owner = await signup_login(api, "performer")
    return owner, (await make_room(api, owner))["slug"]


async def test_create_list_patch_delete(relay_api: Any) -> None:
    owner, slug = await _owner_room(relay_api)
    base = f"/api/rooms/{slug}/restreams"
    r = await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)
    assert r.status == 201, await r.text()
    yt = await r.json()
    assert yt["url"] == "rtmp://a.rtmp.youtube.com/live2" and yt["ingest"] == "rtmp"
    assert yt["key_masked"] == "****qrst" and yt["enabled"] is True
    assert yt["status"]["state"] == "idle"

    r = await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY, "ingest": "rtmps"}, headers=owner)
    assert (await r.json())["url"] == "rtmps://a.rtmps.youtube.com:443/live2"
    r = await relay_api.post(base, json={"platform": "twitch", "key": TW_KEY}, headers=owner)
    tw = await r.json()
    assert tw["url"] == "rtmp://live.twitch.tv/app"
    r = await relay_api.post(base, json={"platform": "twitch", "key": TW_KEY,
                                         "ingest": "fra05.contribute.live-video.net"}, headers=owner)
    assert (await r.json())["url"] == "rtmp://fra05.contribute.live-video.net/app"
    r = await relay_api.post(base, json={"platform": "custom", "key": CUSTOM_KEY,
                                         "url": "rtmps://ingest.example.net:8443/live/", "enabled": False},
                             headers=owner)
    custom = await r.json()
    assert r.status == 201 and custom["url"] == "rtmps://ingest.example.net:8443/live"
    assert custom["enabled"] is False

    r = await relay_api.get(base, headers=owner)
    listed = (await r.json())["restreams"]
    assert [t["id"] for t in listed] == sorted(t["id"] for t in listed) and len(listed) == 5

    r = await relay_api.patch(f"{base}/{tw['id']}", json={"enabled": False, "ingest": "rtmps"}, headers=owner)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["enabled"] is False and body["url"] == "rtmps://live.twitch.tv:443/app"
    r = await relay_api.patch(f"{base}/{tw['id']}", json={"key": "another-twitch-key-0000"}, headers=owner)
    assert (await r.json())["key_masked"] == "****0000"
    r = await relay_api.patch(f"{base}/{custom['id']}", json={"url": "rtmp://other.example.net/app"}, headers=owner)
    assert (await r.json())["url"] == "rtmp://other.example.net/app"
    r = await relay_api.patch(f"{base}/{yt['id']}", json={"platform": "custom", "url": "rtmp://h.example/x"},
                              headers=owner)
    assert (await r.json())["platform"] == "custom"

    r = await relay_api.delete(f"{base}/{tw['id']}", headers=owner)
    assert r.status == 204
    r = await relay_api.delete(f"{base}/{tw['id']}", headers=owner)
    assert r.status == 404
    r = await relay_api.patch(f"{base}/{tw['id']}", json={"enabled": True}, headers=owner)
    assert r.status == 404
    assert len((await (await relay_api.get(base, headers=owner)).json())["restreams"]) == 4


@pytest.mark.parametrize("body", [
    {"platform": "vimeo", "key": YT_KEY},
    {"platform": "youtube"},
    {"platform": "youtube", "key": ""},
    {"platform": "youtube", "key": "has space"},
    {"platform": "youtube", "key": 12345},
    {"platform": "youtube", "key": YT_KEY, "ingest": "nowhere"},
    {"platform": "youtube", "key": YT_KEY, "url": "rtmp://a.example/live"},
    {"platform": "twitch", "key": TW_KEY, "ingest": "evil.example.com"},
    {"platform": "custom", "key": CUSTOM_KEY},
    {"platform": "custom", "key": CUSTOM_KEY, "url": "http://example.net/live"},
    {"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://example.net"},
    {"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://user:pw@example.net/live"},
    {"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://example.net:99999/live"},
    {"platform": "youtube", "key": YT_KEY, "enabled": "yes"},
    {"platform": "youtube", "key": YT_KEY, "colour": "blue"},
])
async def test_bad_targets_are_refused(relay_api: Any, body: dict[str, Any]) -> None:
    owner, slug = await _owner_room(relay_api)
    r = await relay_api.post(f"/api/rooms/{slug}/restreams", json=body, headers=owner)
    assert r.status == 400, await r.text()
    answer = await r.json()
    assert answer["error"] == "bad_target"
    if isinstance(body.get("key"), str) and body["key"]:
        assert body["key"] not in await r.text()
    assert (await (await relay_api.get(f"/api/rooms/{slug}/restreams", headers=owner)).json())["restreams"] == []


async def test_only_the_owner_manages_targets(relay_api: Any) -> None:
    owner, slug = await _owner_room(relay_api)
    host = await signup_login(relay_api, "hosty")
    fan = await signup_login(relay_api, "fanny")
    await relay_api.post(f"/api/rooms/{slug}/hosts", json={"username": "hosty"}, headers=owner)
    base = f"/api/rooms/{slug}/restreams"
    r = await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)
    target = await r.json()
    for who, status in ((host, 403), (fan, 403), ({}, 401)):
        assert (await relay_api.get(base, headers=who)).status == status
        assert (await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=who)).status == status
        assert (await relay_api.patch(f"{base}/{target['id']}", json={"enabled": False}, headers=who)).status == status
        assert (await relay_api.delete(f"{base}/{target['id']}", headers=who)).status == status
    assert (await relay_api.get("/api/rooms/nope/restreams", headers=owner)).status == 404
    assert (await relay_api.patch(f"{base}/abc", json={}, headers=owner)).status == 404
    # Another owner's room id does not reach this room's targets.
    other = await signup_login(relay_api, "other")
    other_slug = (await make_room(relay_api, other))["slug"]
    r = await relay_api.delete(f"/api/rooms/{other_slug}/restreams/{target['id']}", headers=other)
    assert r.status == 404


async def test_keys_never_leave_in_full(relay_api: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    owner, slug = await _owner_room(relay_api)
    base = f"/api/rooms/{slug}/restreams"
    texts: list[str] = []
    r = await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)
    texts.append(await r.text())
    target = await r.json()
    r = await relay_api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://x.example/a"},
                             headers=owner)
    texts.append(await r.text())
    texts.append(await (await relay_api.get(base, headers=owner)).text())
    r = await relay_api.patch(f"{base}/{target['id']}", json={"key": TW_KEY}, headers=owner)
    texts.append(await r.text())
    texts.append(await (await relay_api.get(f"/api/rooms/{slug}", headers=owner)).text())
    texts.append(await (await relay_api.get("/metrics")).text())
    texts.append(await (await relay_api.get("/api/openapi.json")).text())
    logged = "\n".join(f"{rec.getMessage()} {vars(rec)}" for rec in caplog.records)
    for key in (YT_KEY, CUSTOM_KEY, TW_KEY):
        for text in texts:
            assert key not in text
        assert key not in logged
    assert "****qrst" in texts[0]

    # At rest: sealed in the database, under a secret kept outside it.
    engine = relay_api.server.app[ENGINE]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT key_sealed, key_hint FROM restream_targets"))).all()
    for sealed, hint in rows:
        assert sealed.startswith("v1.") and hint.startswith("****")
        assert all(k not in sealed for k in (YT_KEY, CUSTOM_KEY, TW_KEY))
    secret = tmp_path / SECRET_FILE
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    db_file = tmp_path / "test.sqlite3"
    if db_file.exists():
        for path in (db_file, db_file.with_name("test.sqlite3-wal")):
            if path.exists():
                raw = path.read_bytes()
                assert all(k.encode() not in raw for k in (YT_KEY, CUSTOM_KEY, TW_KEY))


def _refused(stage: str, rule: str) -> float:
    return REGISTRY.get_sample_value("nal_relay_destination_refused_total", {"stage": stage, "rule": rule}) or 0.0


def _bad_input(kind: str) -> float:
    return REGISTRY.get_sample_value("nal_bad_input_total", {"kind": kind}) or 0.0


@pytest.mark.parametrize(("url", "code", "rule"), [
    ("rtmp://127.0.0.1/live", "destination_not_allowed", "own_listener"),  # the default RTMP listener
    ("rtmp://127.0.0.1:1936/live", "destination_not_allowed", "loopback"),
    ("rtmp://127.0.0.1:8080/live", "destination_not_allowed", "loopback"),
    ("rtmp://10.0.0.1/live", "destination_not_allowed", "private"),
    ("rtmp://172.16.5.4:1935/live", "destination_not_allowed", "private"),
    ("rtmps://192.168.0.10/live", "destination_not_allowed", "private"),
    ("rtmp://100.64.1.1/live", "destination_not_allowed", "private"),
    ("rtmp://169.254.169.254/latest", "destination_not_allowed", "link_local"),
    ("rtmp://[::1]/live", "destination_not_allowed", "loopback"),
    ("rtmp://[::ffff:127.0.0.1]:1936/live", "destination_not_allowed", "loopback"),
    ("rtmp://[::ffff:a9fe:a9fe]/live", "destination_not_allowed", "link_local"),
    ("rtmp://[fd00::1]/live", "destination_not_allowed", "private"),
    ("rtmp://[fe80::1]/live", "destination_not_allowed", "link_local"),
    ("rtmp://224.0.0.1/live", "destination_not_allowed", "multicast"),
    ("rtmp://0.0.0.0/live", "destination_not_allowed", "unspecified"),
    ("rtmp://[::]/live", "destination_not_allowed", "unspecified"),
    ("rtmp://255.255.255.255/live", "destination_not_allowed", "broadcast"),
    ("rtmp://2130706433/live", "bad_target", "ip_form"),
    ("rtmp://0x7f.1/live", "bad_target", "ip_form"),
    ("rtmp://017700000001/live", "bad_target", "ip_form"),
    ("rtmp://127.1/live", "bad_target", "ip_form"),
    ("rtmp://0177.0.0.1/live", "bad_target", "ip_form"),
    ("rtmp://@example.net/live", "bad_target", "userinfo"),
    ("rtmp://example.net:22/live", "bad_target", "port"),
    ("rtmp://example.net:0/live", "bad_target", "port"),
    ("rtmp://example.net:01935/live", "bad_target", "port"),
    ("rtmp://h%6fst.example/live", "bad_target", "host_syntax"),
])
async def test_forbidden_destinations_are_refused_when_saved(relay_api: Any, url: str, code: str, rule: str) -> None:
    owner, slug = await _owner_room(relay_api)
    base = f"/api/rooms/{slug}/restreams"
    before, bad_before = _refused("create", rule), _bad_input("destination_not_allowed")
    r = await relay_api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": url}, headers=owner)
    assert r.status == 400, await r.text()
    assert (await r.json())["error"] == code
    assert _refused("create", rule) == before + 1
    assert _bad_input("destination_not_allowed") == bad_before + (code == "destination_not_allowed")
    # An edit to such a URL is refused the same way, and the target keeps its old one.
    r = await relay_api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://x.example/a"},
                             headers=owner)
    target = await r.json()
    r = await relay_api.patch(f"{base}/{target['id']}", json={"url": url}, headers=owner)
    assert r.status == 400 and (await r.json())["error"] == code
    listed = (await (await relay_api.get(base, headers=owner)).json())["restreams"]
    assert [t["url"] for t in listed] == ["rtmp://x.example/a"]


async def test_allow_private_opens_loopback_but_never_our_own_listeners(relay_api_with: Any) -> None:
    http_port, rtmp_port = free_port(), free_port()
    api = await relay_api_with(relay_allow_private=True, http=f"127.0.0.1:{http_port}", rtmp=f"0.0.0.0:{rtmp_port}",
                               public_rtmp="rtmp://live.example.com:1935/live")
    owner, slug = await _owner_room(api)
    base = f"/api/rooms/{slug}/restreams"
    for url in (f"rtmp://127.0.0.1:{http_port}/live", f"rtmp://127.0.0.1:{rtmp_port}/live",
                f"rtmp://127.9.9.9:{rtmp_port}/live", f"rtmp://[::1]:{rtmp_port}/live",
                "rtmp://live.example.com/live", "rtmp://LIVE.example.com:1935/x"):
        before = _refused("create", "own_listener")
        r = await api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": url}, headers=owner)
        assert r.status == 400, url
        body = await r.json()
        assert body["error"] == "destination_not_allowed" and "not allowed" in body["message"]
        assert _refused("create", "own_listener") == before + 1
    for url in (f"rtmp://127.0.0.1:{free_port()}/live", "rtmp://10.1.2.3/live", "rtmp://[fd00::5]/live",
                "rtmp://live.example.com:1936/live"):
        r = await api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": url}, headers=owner)
        assert r.status == 201, (url, await r.text())
    r = await api.post(base, json={"platform": "custom", "key": CUSTOM_KEY, "url": "rtmp://169.254.169.254/x"},
                       headers=owner)
    assert r.status == 400 and (await r.json())["error"] == "destination_not_allowed"


async def test_targets_per_room_are_limited(relay_api_with: Any) -> None:
    api = await relay_api_with(relay_max_targets=3)
    owner, slug = await _owner_room(api)
    base = f"/api/rooms/{slug}/restreams"
    before = _bad_input("too_many_targets")
    answers = await asyncio.gather(*(
        api.post(base, json={"platform": "custom", "key": f"{CUSTOM_KEY}-{i}", "url": f"rtmp://h{i}.example/a"},
                 headers=owner) for i in range(8)))
    statuses = sorted(r.status for r in answers)
    assert statuses == [201] * 3 + [409] * 5
    refused = [await r.json() for r in answers if r.status == 409]
    assert {b["error"] for b in refused} == {"too_many_targets"} and "at most 3" in refused[0]["message"]
    assert _bad_input("too_many_targets") == before + 5
    assert len((await (await api.get(base, headers=owner)).json())["restreams"]) == 3
    # Another room has its own allowance; a deleted target frees a place.
    other_owner, other = await _owner_room_named(api, "second")
    r = await api.post(f"/api/rooms/{other}/restreams", json={"platform": "youtube", "key": YT_KEY},
                       headers=other_owner)
    assert r.status == 201
    first = (await (await api.get(base, headers=owner)).json())["restreams"][0]
    assert (await api.delete(f"{base}/{first['id']}", headers=owner)).status == 204
    r = await api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)
    assert r.status == 201


async def test_the_default_limit_is_five(relay_api: Any) -> None:
    owner, slug = await _owner_room(relay_api)
    base = f"/api/rooms/{slug}/restreams"
    for _ in range(5):
        assert (await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)).status == 201
    r = await relay_api.post(base, json={"platform": "youtube", "key": YT_KEY}, headers=owner)
    assert r.status == 409 and (await r.json())["error"] == "too_many_targets"


async def _owner_room_named(api: Any, name: str) -> tuple[dict[str, str], str]:
    owner = await signup_login(api, name)
    return owner, (await make_room(api, owner))["slug"]
