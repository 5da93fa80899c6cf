"""What a route needs to know about the request: the running parts, the principal, the language."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from starlette.requests import HTTPConnection

from cloudexpo.accounts import Role
from cloudexpo.permissions import ANONYMOUS, Principal, require

if TYPE_CHECKING:
    from booths.engagement.analytics import Counter
    from booths.engagement.notify import Notifier
    from booths.runtime import BoothsRuntime
    from cloudexpo.services import Services
    from streaming.live import LiveService
    from streaming.runtime import StreamingRuntime
    from web.booth_pages import BoothPageCache


class WebRuntime(Protocol):
    """What the HTTP side uses of a running process (``cloudexpo.app.Runtime`` has it all).

    ``web.app.build_app`` keeps it in ``app.state.runtime``; the lifespan starts and closes it.
    """

    @property
    def services(self) -> Services: ...

    @property
    def booths(self) -> BoothsRuntime: ...

    @property
    def streaming(self) -> StreamingRuntime: ...

    @property
    def booth_pages(self) -> BoothPageCache: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def runtime(request: HTTPConnection) -> WebRuntime:
    found: WebRuntime = request.app.state.runtime
    return found


def services(request: HTTPConnection) -> Services:
    found: Services = request.app.state.services
    return found


def booths_runtime(request: HTTPConnection) -> BoothsRuntime:
    """The analytics counter, the notifier, the media worker."""
    return runtime(request).booths


def streaming_runtime(request: HTTPConnection) -> StreamingRuntime:
    """The live service, chat, recorder and replay files."""
    return runtime(request).streaming


def booth_page_cache(request: HTTPConnection) -> BoothPageCache:
    return runtime(request).booth_pages


def counter(request: HTTPConnection) -> Counter:
    """The booth analytics counter (visits and events, written in the background)."""
    return booths_runtime(request).analytics


def notifier(request: HTTPConnection) -> Notifier:
    return booths_runtime(request).notifier


def live_service(request: HTTPConnection) -> LiveService:
    return streaming_runtime(request).live


def exhibition_zone(request: HTTPConnection) -> ZoneInfo:
    """The exhibition's time zone (times given without one are in it)."""
    return ZoneInfo(services(request).settings.timezone)


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
