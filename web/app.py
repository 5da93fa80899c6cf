"""Builds the Starlette application around a running process's parts (:class:`web.context.WebRuntime`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from web import i18n
from web.context import WebRuntime
from web.errors import EXCEPTION_HANDLERS
from web.middleware import ContextMiddleware, PrincipalCache, RequestIdMiddleware, SessionlessAware
from web.routes import assets, auth, health, pages, storage, uploads
from web.staticfiles import CachedStaticFiles
from web.templating import STATIC

SESSION_COOKIE = "cloudexpo_session"


def core_routes() -> list[BaseRoute]:
    return [*health.routes, *auth.routes, *storage.routes, *uploads.routes, *assets.routes, *pages.routes]


def live_routes() -> list[BaseRoute]:
    """Programme, WHIP/WHEP, watch and go-live pages, chat, control room, /ws."""
    from web.routes import chat, control, live, programme, replays, whip, ws

    return [*whip.routes, *ws.routes, *programme.routes, *replays.routes, *live.routes, *control.routes,
            *chat.routes]


def exhibition_routes() -> list[BaseRoute]:
    """Map, zones, booths, products, search, applications, dashboard, moderation, OpenAPI."""
    from web import openapi
    from web.routes import applications, exhibition, moderation

    return [*exhibition.routes, *applications.routes, *moderation.routes, *openapi.routes]


def engagement_routes() -> list[BaseRoute]:
    """My tour, cards, meetings, leads, analytics, QR codes, notifications."""
    from web.routes import analytics, engagement, leads, meetings, notifications, qr

    return [*engagement.routes, *meetings.routes, *leads.routes, *analytics.routes, *qr.routes,
            *notifications.routes]


def build_app(runtime: WebRuntime, extra_routes: Sequence[BaseRoute] = (), debug: bool = False) -> Starlette:
    """The ASGI app; its lifespan starts ``runtime`` and closes it at shutdown."""
    i18n.load_all()
    services = runtime.services
    settings = services.settings
    cache = PrincipalCache()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    app = Starlette(
        debug=debug,
        routes=[
            *extra_routes,
            *core_routes(),
            *exhibition_routes(),
            *live_routes(),
            *engagement_routes(),
            Mount("/static", app=CachedStaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(RequestIdMiddleware, registry=services.metrics),
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
