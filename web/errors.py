"""One error shape: JSON under /api/ and on machine endpoints, a friendly page elsewhere.

Every refusal is ``{"error": <short code>, "detail": <what to fix>}`` with the
right 4xx status. Domain exceptions are mapped here, at the boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cloudexpo.accounts import AccountError
from cloudexpo.permissions import Forbidden, NotSignedIn
from cloudexpo.ratelimit import RateLimited

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}

MACHINE_PREFIXES = ("/api/", "/whip/", "/whep/", "/storage/", "/metrics", "/readyz", "/healthz", "/ws")


class ApiError(HTTPException):
    """An HTTP refusal with a machine-readable code and a human-readable detail."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.error = error or ERROR_CODES.get(status_code, "error")
        self.extra = extra or {}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(MACHINE_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(status: int, detail: str, error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": error or ERROR_CODES.get(status, "error"), "detail": detail, **extra}


def error_response(request: Request, status: int, detail: str, *, error: str | None = None,
                   headers: Mapping[str, str] | None = None, extra: dict[str, Any] | None = None) -> Response:
    if wants_json(request):
        return JSONResponse(error_body(status, detail, error, **(extra or {})), status_code=status, headers=dict(headers or {}))
    from web.templating import render

    response = render(request, "error.html", {"status": status, "detail": detail}, status_code=status)
    if headers:
        response.headers.update(headers)
    return response


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    error = getattr(exc, "error", None)
    extra = getattr(exc, "extra", None)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is nothing at this address."
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed here."
    return error_response(request, exc.status_code, detail, error=error, headers=exc.headers, extra=extra)


async def not_signed_in(request: Request, exc: Exception) -> Response:
    if not wants_json(request) and request.method == "GET":
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    return error_response(request, 401, str(exc) or "Sign in to do this.")


async def forbidden(request: Request, exc: Exception) -> Response:
    return error_response(request, 403, str(exc) or "You may not do this.")


async def account_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AccountError)
    return error_response(request, 422, str(exc), extra={"field": exc.field} if exc.field else None)


async def rate_limited(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    return error_response(request, 429, str(exc), headers={"Retry-After": str(int(exc.retry_after) + 1)})


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "Something went wrong on our side; it has been logged.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: http_exception,
    NotSignedIn: not_signed_in,
    Forbidden: forbidden,
    AccountError: account_error,
    RateLimited: rate_limited,
    Exception: server_error,
}
