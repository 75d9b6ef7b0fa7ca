"""Accounts and sessions: sign up, log in, log out, who am I."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import api_sessions, auth, password_policy, quotas
from server.errors import BadRequest
from server.httputil import BAD_INPUT, field_str, json_response, read_json


def _credentials(data: dict[str, Any]) -> tuple[str, str]:
    username = field_str(data, "username", min_len=3, max_len=32)
    raw = data.get("password")
    if isinstance(raw, str) and raw and (refused := password_policy.refusal(raw)) is not None:
        BAD_INPUT.labels(refused[0]).inc()
        raise BadRequest(refused[1], refused[0])
    password = field_str(data, "password", min_len=8, max_len=256)
    return username, password


async def create_account(request: web.Request) -> web.Response:
    data = await read_json(request)
    username, password = _credentials(data)
    if not auth.USERNAME_RE.match(username):
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest("username: 3-32 letters, digits, '_', '.', '-'", "bad_field")
    quotas.take_signup(request)
    user_id = await auth.create_account(request, username, password)
    return json_response({"id": user_id, "username": username}, status=201)


async def create_session(request: web.Request) -> web.Response:
    data = await read_json(request)
    username = field_str(data, "username", max_len=32)
    password = field_str(data, "password", max_len=256)
    identity, token, csrf = await auth.login(request, username, password)
    response = json_response({"token": token, "csrf": csrf, "user": {"id": identity.user_id, "username": identity.username}})
    auth.set_session_cookies(response, request, token, csrf)
    return response


async def delete_session(request: web.Request) -> web.Response:
    await auth.require_user(request)
    await auth.logout(request)
    response = web.Response(status=204)
    auth.clear_session_cookies(response)
    return response


async def me(request: web.Request) -> web.Response:
    identity = await auth.require_user(request)
    return json_response({"id": identity.user_id, "username": identity.username})


def setup(app: web.Application) -> None:
    quotas.setup(app)
    auth.setup(app)
    api_sessions.setup(app)
    app.router.add_post("/api/accounts", create_account)
    app.router.add_post("/api/sessions", create_session)
    app.router.add_delete("/api/sessions", delete_session)
    app.router.add_get("/api/me", me)
