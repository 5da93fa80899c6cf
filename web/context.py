"""What a route needs to know about the request: services, principal, language."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from cloudexpo.accounts import Role
from cloudexpo.permissions import ANONYMOUS, Principal, require

if TYPE_CHECKING:
    from cloudexpo.services import Services


def services(request: HTTPConnection) -> Services:
    return request.app.state.services


def principal(request: HTTPConnection) -> Principal:
    return request.scope.get("cloudexpo.principal", ANONYMOUS)


def language(request: HTTPConnection) -> str:
    return request.scope.get("cloudexpo.language") or services(request).settings.default_language


def csrf_token(request: HTTPConnection) -> str:
    return request.scope.get("cloudexpo.csrf", "")


def page_principal(request: HTTPConnection) -> Principal:
    """The signed-in principal only when the request shows this session's CSRF token.

    For endpoints the CSRF middleware leaves alone because a bearer token is
    their authority (``/whip/``, ``/whep/``): there the session cookie counts
    only with ``X-CSRF-Token``, so another site cannot borrow a signed-in
    browser's cookie.
    """
    given = request.headers.get("x-csrf-token", "")
    expected = csrf_token(request)
    if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return ANONYMOUS
    return principal(request)


def moderator(request: HTTPConnection) -> Principal:
    """The moderator asking; anyone else is refused (``NotSignedIn``, ``Forbidden``)."""
    return require(principal(request), Role.MODERATOR)


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"
