"""The OpenAPI document against the running app: the same routes, the declared security,
and every answer a probe gets is one the document lists for that operation."""

from __future__ import annotations

from typing import Any

from server.openapi import PUBLIC, ROUTES, answers_of, document, path_params

UNDOCUMENTED = {("get", "/api/openapi.json")}  # the document itself


def test_every_api_route_is_declared_once(api: Any) -> None:
    served = {(r.method.lower(), r.resource.canonical) for r in api.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"}
    declared = [(method, path) for method, path, *_ in ROUTES]
    assert len(declared) == len(set(declared))
    assert served - UNDOCUMENTED == set(declared)
    assert PUBLIC <= set(declared)


def test_security_is_per_operation() -> None:
    doc = document()
    assert "security" not in doc
    for method, path, _summary, _body, answers in ROUTES:
        op = doc["paths"][path][method]
        public = (method, path) in PUBLIC
        assert ({} in op["security"]) == public, (method, path)
        # 401 on a public operation only where the route says why (log-in: wrong credentials).
        assert ("401" in op["responses"]) == (not public or 401 in answers), (method, path)


def test_common_answers_come_from_one_rule() -> None:
    # /api/shows/{show_id}/analytics/{series}.csv names two things; a body means 400 and 413.
    answers = answers_of("post", "/api/shows/{show_id}/orders", {"type": "object"}, {201: "made"})
    assert set(answers) == {201, 400, 401, 404, 413, 429, 503}
    assert path_params("/api/shows/{show_id}/analytics/{series}.csv") == ["show_id", "series"]
    assert set(answers_of("get", "/api/rooms", None, {200: "rooms"})) == {200, 429, 503}


async def test_signed_out_probe_gets_documented_answers(api: Any) -> None:
    wrong = []
    for method, path, _summary, body, answers in ROUTES:
        url = "/api/" + path.removeprefix("/api/").replace("{", "no-such-").replace("}", "")
        reply = await api.request(method.upper(), url, allow_redirects=False)  # no body: the session is checked
        documented = answers_of(method, path, body, answers)
        if reply.status not in documented:
            wrong.append(f"{method} {path}: {reply.status} not in {sorted(documented)}")
        if (method, path) not in PUBLIC and reply.status not in (401, 404):
            wrong.append(f"{method} {path}: needs a session but answered {reply.status}")
        if (method, path) in PUBLIC and reply.status == 401:
            wrong.append(f"{method} {path}: public but answered 401")
    assert wrong == []


async def test_a_body_is_checked_against_its_schema_before_the_handler(api: Any) -> None:
    reply = await api.post("/api/accounts", json={"username": "ab", "password": "long enough pass"})
    assert reply.status == 400
    assert await reply.json() == {"error": "bad_field", "message": "username: 'ab' does not match "
                                  "'^[A-Za-z0-9_.-]{3,32}$'"}
    reply = await api.post("/api/accounts", json={"username": "schema_ok", "password": 12345678})
    assert (reply.status, (await reply.json())["message"]) == (400, "password: 12345678 is not of type 'string'")
    assert (await api.post("/api/accounts", json={"username": "schema_ok", "password": "a fine long pass"})).status == 201
    reply = await api.post("/api/sessions", json={"username": "schema_ok"})
    assert (reply.status, (await reply.json())["message"]) == (400, "body: 'password' is a required property")
    reply = await api.post("/api/sessions", json={"username": "schema_ok", "password": "   "})
    assert (reply.status, (await reply.json())["message"]) == (400, "password: '   ' does not match '\\\\S'")
    # What the schema lets through the handler takes: a wrong password is 401, not 400.
    assert (await api.post("/api/sessions", json={"username": "schema_ok", "password": "x"})).status == 401
    assert (await api.post("/api/sessions", data=b"[1]", headers={"Content-Type": "application/json"})).status == 400
