"""HTTP-facing errors of the server package.

    ApiError                  an answer with a status, a machine code and a message
    ├── BadRequest (400)      the client sent something we cannot use
    ├── Unauthorized (401)    no valid session or token
    ├── Forbidden (403)       signed in, but not allowed (CSRF failures too)
    ├── NotFound (404)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    └── RetryLater            carries Retry-After
        ├── TooManyRequests (429)     this client tried too often: wait
        └── ServiceUnavailable (503)  the server is busy: try again soon
"""

from __future__ import annotations

import json
import math

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


class RetryLater(ApiError):
    """An answer with ``Retry-After`` (whole seconds, rounded up, at least 1)."""

    def __init__(self, message: str, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s

    def response(self) -> web.Response:
        answer = super().response()
        answer.headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return answer


class TooManyRequests(RetryLater):
    status = 429
    code = "rate_limited"


class ServiceUnavailable(RetryLater):
    status = 503
    code = "busy"
