"""HTTP-facing errors of the server package.

    ApiError                  an answer with a status, a machine code and a message
    ├── BadRequest (400)      the client sent something we cannot use
    ├── Unauthorized (401)    no valid session or token
    ├── Forbidden (403)       signed in, but not allowed (CSRF failures too)
    ├── NotFound (404)
    ├── Conflict (409)
    └── PayloadTooLarge (413)
"""

from __future__ import annotations

import json

from aiohttp import web


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def response(self) -> web.Response:
        body = json.dumps({"error": self.code, "message": self.message})
        return web.Response(status=self.status, text=body, content_type="application/json")


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "too_large"
