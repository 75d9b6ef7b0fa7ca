"""Sign-up refuses the most common passwords and ones with nothing visible in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.password_policy import COMMON_PASSWORDS, refusal
from tests.support.api import signup_login
from tests.support.apps import sqlite_api

BLANK = ["        ", "\t\t\t\t\t\t\t\t", "\u200b" * 10, "\u200d\u200c\u2060\ufeff" * 3, "\u202e" * 9,
         "\u3164" * 8, "\u2800" * 8, "\u00a0" * 8, "\u0301" * 8, " \u200b " * 4]
COMMON = ["password", "Password1", "12345678", "qwertyuiop", "iloveyou", "sunshine", "PASSWORD",
          "pass\u200bword", "ｐａｓｓｗｏｒｄ", "  football  "]


@pytest.mark.parametrize("password", BLANK)
def test_blank_passwords(password: str) -> None:
    assert (refusal(password) or ("accepted",))[0] == "blank_password"


@pytest.mark.parametrize("password", COMMON)
def test_common_passwords(password: str) -> None:
    assert (refusal(password) or ("accepted",))[0] == "common_password"


def test_the_list_is_the_packaged_one_and_good_passwords_pass() -> None:
    assert len(COMMON_PASSWORDS) >= 10_000
    for good in ("correct horse", "my own secret", "zebra-piano-42-lamp", "x\u200bqz-8ujk"):
        assert refusal(good) is None


async def test_sign_up_says_why_and_counts(aiohttp_client: Any, tmp_path: Path) -> None:
    api = await sqlite_api(aiohttp_client, tmp_path)
    r = await api.post("/api/accounts", json={"username": "alice", "password": "Password1"})
    body = await r.json()
    assert r.status == 400 and body["error"] == "common_password" and "common" in body["message"]
    r = await api.post("/api/accounts", json={"username": "alice", "password": "\u200b" * 12})
    body = await r.json()
    assert r.status == 400 and body["error"] == "blank_password" and "visible" in body["message"]
    r = await api.post("/api/accounts", json={"username": "alice", "password": " " * 12})
    assert r.status == 400 and (await r.json())["error"] == "blank_password"
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="common_password"}' in metrics
    assert 'nal_bad_input_total{kind="blank_password"}' in metrics
    await signup_login(api, "alice")  # nothing was taken: the name is still free
