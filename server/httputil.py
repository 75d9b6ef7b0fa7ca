"""Small helpers shared by the JSON API handlers: bodies, answers, bad-input counting.

Every answer carries an ``X-Request-Id`` (the proxy's, when it sent a sane one, else a new
one); an unhandled error is logged with that id and answered as JSON
``{"error": "internal", "request_id": ...}``, never as aiohttp's plain-text 500.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
from typing import Any

from aiohttp import ClientPayloadError, web
from prometheus_client import Counter

from rooms.metrics import TEXT_CLEANED
from rooms.text import clean_text, has_lone_surrogate
from server.errors import ApiError, BadRequest, PayloadTooLarge

BAD_INPUT = Counter("nal_bad_input_total", "Requests refused for bad input", ["kind"])
REFUSED = Counter("nal_refused_total", "Requests and connections refused by a limit or a guard", ["reason"])
INTERNAL_ERRORS = Counter("nal_internal_errors_total", "Requests answered 500 after an unhandled error")
MAX_JSON_BODY = 64 * 1024
REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
# The JSON body, once read and checked against its route's schema (server/openapi.py).
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("json_body")
_ids = random.Random(secrets.randbits(128))
"""Request ids label logs, they guard nothing: a seeded PRNG makes them without a system call
per request (the LL-HLS fast path gives every answer one)."""
_INBOUND_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logging.getLogger("notalabel.http")


def json_response(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json", **kwargs)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body; ``content.read(n)`` alone stops at the first chunk."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            chunk = await request.content.read(limit - size)
        except (ConnectionError, ClientPayloadError):
            # The client hung up mid-body: nothing was accepted, nobody is left to answer;
            # a 400 (never sent) instead of an unhandled error with a traceback in the log.
            BAD_INPUT.labels("body_cut_off").inc()
            raise BadRequest("the request body was cut off", "body_cut_off") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


async def read_raw(request: web.Request, max_bytes: int) -> bytes:
    """The raw body (a signed webhook is verified on these bytes); oversized is 413, counted."""
    if request.content_length is not None and request.content_length > max_bytes:
        BAD_INPUT.labels("too_large").inc()
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
    raw = await _read_body(request, max_bytes + 1)
    if len(raw) > max_bytes:
        BAD_INPUT.labels("too_large").inc()
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
    return raw


async def read_json(request: web.Request, max_bytes: int = MAX_JSON_BODY) -> dict[str, Any]:
    """Read a JSON object body; oversized, non-JSON or non-object bodies are 4xx and counted.
    A body the schema middleware read already is returned as it read it."""
    if BODY in request:
        return request[BODY]
    raw = await read_raw(request, max_bytes)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        BAD_INPUT.labels("bad_json").inc()
        raise BadRequest(f"body is not valid JSON: {exc}", "bad_json") from None
    if not isinstance(data, dict):
        BAD_INPUT.labels("bad_json").inc()
        raise BadRequest("body must be a JSON object", "bad_json")
    # json.loads decodes bytes with "surrogatepass" and accepts \ud800 escapes: either way
    # a lone surrogate would reach the database and every reader. ASCII without \u has none.
    if (not raw.isascii() or b"\\u" in raw) and has_lone_surrogate(data):
        BAD_INPUT.labels("bad_unicode").inc()
        raise BadRequest("body holds text that is not valid Unicode (a lone surrogate)", "bad_unicode")
    return data


async def read_json_if_any(request: web.Request) -> dict[str, Any]:
    """``read_json`` where the body is optional: no body is ``{}``."""
    if BODY in request or request.can_read_body:
        return await read_json(request)
    return {}


def field_str(data: dict[str, Any], name: str, *, min_len: int = 1, max_len: int = 200,
              required: bool = True, default: str = "") -> str:
    value = data.get(name)
    if value is None and not required:
        return default
    if not isinstance(value, str) or not (min_len <= len(value.strip()) <= max_len):
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest(f"{name!r} must be a string of {min_len} to {max_len} characters", "bad_field")
    return value.strip()


def field_text(data: dict[str, Any], name: str, **limits: Any) -> str:
    """``field_str`` for text other users see (titles, names of songs): bidi controls and
    zero-width characters are stripped first (rooms/text.py says which and why), so a
    title of nothing but invisible characters is refused as empty."""
    value = data.get(name)
    if isinstance(value, str):
        cleaned = clean_text(value)
        if cleaned != value:
            TEXT_CLEANED.labels(name).inc()
            data = {**data, name: cleaned}
    return field_str(data, name, **limits)


def field_int(data: dict[str, Any], name: str, *, lo: int, hi: int) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        BAD_INPUT.labels("bad_field").inc()
        raise BadRequest(f"{name!r} must be an integer from {lo} to {hi}", "bad_field")
    return value


def request_id_for(inbound: str) -> str:
    """The id an answer carries: the one a proxy sent if it looks sane, else a new one."""
    return inbound if inbound and _INBOUND_ID_RE.match(inbound) else _ids.getrandbits(64).to_bytes(8).hex()


def request_id(request: web.Request) -> str:
    """This request's id: the one a proxy sent in ``X-Request-Id`` if it looks sane, else a new one."""
    if REQUEST_ID not in request:
        request[REQUEST_ID] = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
    return request[REQUEST_ID]


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rid = request_id(request)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as err:
        return err.response()
    except web.HTTPRequestEntityTooLarge:
        BAD_INPUT.labels("too_large").inc()
        return PayloadTooLarge("request body too large").response()
    except (web.HTTPException, ConnectionResetError):
        raise  # aiohttp's own answers (404, 405, redirects), headers added on prepare
    except Exception:
        INTERNAL_ERRORS.inc()
        log.exception("unhandled error", extra={"request_id": rid, "method": request.method,
                                                "path": request.path})
        if request.writer.output_size > 0:
            raise  # an answer (a socket, a stream) had begun: aiohttp closes the connection
        return json_response({"error": "internal", "message": "internal error; quote the request id",
                              "request_id": rid}, status=500)


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[REQUEST_ID_HEADER] = request_id(request)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(_add_request_id)
