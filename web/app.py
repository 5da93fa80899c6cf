"""Builds the Starlette application around a running process's parts (:class:`web.context.WebRuntime`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from web import i18n, openapi
from web.context import WebRuntime
from web.errors import EXCEPTION_HANDLERS
from web.headers import SecurityHeadersMiddleware
from web.middleware import (
    ContextMiddleware,
    NulGuard,
    PrincipalCache,
    RequestIdMiddleware,
    SessionlessAware,
    WebsocketSend,
)
from web.routes import (
    account,
    analytics,
    applications,
    assets,
    auth,
    briefcase,
    calls,
    chat,
    control,
    conversations,
    engagement,
    exhibition,
    health,
    leads,
    live,
    meetings,
    moderation,
    notifications,
    programme,
    qa,
    qr,
    recommendations,
    replays,
    schedule,
    storage,
    uploads,
    whip,
    ws,
)
from web.staticfiles import CachedStaticFiles
from web.templating import STATIC

SESSION_COOKIE = "cloudexpo_session"


@dataclass(frozen=True)
class WebArea:
    """The HTTP side of one area: its route modules under ``web/routes/``.

    Its pages' templates are in a folder of ``web/templates/``, its strings in
    catalogs of ``web/translations/``, its domain refusals are rows of
    ``web.errors.REFUSALS``. The domain side (parts, models, migrations) is the
    package's ``area.py`` (``cloudexpo.areas.Area``). A new route module joins
    the tuple of its area here (``tests/test_areas.py`` fails on one left out).
    """

    name: str
    domain: str  # the package it serves: cloudexpo (the kernel), booths or streaming
    modules: tuple[ModuleType, ...]  # each exports ``routes: list[BaseRoute]``

    def routes(self) -> list[BaseRoute]:
        return [route for module in self.modules for route in module.routes]


WEB_AREAS: tuple[WebArea, ...] = (
    # health, sign-in and accounts, signed storage URLs, uploads and assets
    WebArea("core", "cloudexpo", (health, auth, account, storage, uploads, assets)),
    # home, map, zones, booths, products, search, applications, dashboard, moderation, OpenAPI
    WebArea("exhibition", "booths", (exhibition, applications, moderation, openapi)),
    # programme, WHIP/WHEP, /ws, replays, watch and go-live pages, control room, schedule, chat, Q&A and polls
    WebArea("live", "streaming", (whip, ws, programme, replays, live, control, schedule, chat, qa)),
    # my tour, the briefcase, cards, meetings, leads, analytics, QR codes, notifications, recommendations,
    # booth conversations and their video calls
    WebArea("engagement", "booths", (engagement, briefcase, meetings, leads, analytics, qr, notifications,
                                     recommendations, conversations, calls)),
)
"""Every route group, in the order the router tries them."""


class CloudExpoApp(Starlette):
    """Starlette with layers of middleware around its own error layer.

    Starlette answers an exception no handler took (the 500 page) from its
    outermost layer, ``ServerErrorMiddleware``, which the middleware given to
    it never sees. The ``outer`` middleware wraps that layer too, so the 500
    page carries the security headers and the request id of its log line like
    every other response.
    """

    def __init__(self, *, outer: Sequence[Middleware] = (), **kwargs: Any) -> None:
        self.outer_middleware = list(outer)
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer_middleware):
            app = cls(app, *args, **kwargs)
        return app


def build_app(runtime: WebRuntime, extra_routes: Sequence[BaseRoute] = (), debug: bool = False) -> Starlette:
    """The ASGI app; its lifespan starts ``runtime`` and closes it at shutdown."""
    i18n.load_all()
    services = runtime.services
    settings = services.settings
    cache = PrincipalCache()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        await cache.listen(services.bus)  # sessions ended on another node end here too
        try:
            yield
        finally:
            await cache.close()
            await runtime.close()

    app = CloudExpoApp(
        debug=debug,
        routes=[
            *extra_routes,
            *(route for area in WEB_AREAS for route in area.routes()),
            Mount("/static", app=CachedStaticFiles(directory=STATIC), name="static"),
        ],
        outer=[
            Middleware(WebsocketSend),
            Middleware(RequestIdMiddleware, registry=services.metrics),
            Middleware(SecurityHeadersMiddleware, store_getter=lambda: services.store,
                       https=settings.resolved_public_url.startswith("https://"),
                       media_urls=[settings.hls_public_url, settings.egress_whep_url]),
        ],
        middleware=[
            Middleware(NulGuard),
            Middleware(
                SessionlessAware,  # type: ignore[arg-type]
                secret_key=services.secret_key,
                session_cookie=SESSION_COOKIE,
                max_age=14 * 24 * 3600,
                same_site="lax",
                https_only=settings.cookies_secure,
            ),
            Middleware(ContextMiddleware, services_getter=lambda: services, cache=cache),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.services = services
    app.state.principal_cache = cache
    app.state.signin_limiter = services.rate_limiter(settings.signin_rate, 60.0)
    return app
