"""What a route needs to know about the request: services, principal, language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from cloudexpo.permissions import ANONYMOUS, Principal

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


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client else "unknown"
