"""Attaching the live parts to a process's :class:`~cloudexpo.services.Services`.

Called by the composition root (``cloudexpo.app.create_app``): one media
engine per process in ``services.extras["media"]``, the :class:`LiveService`
around it in ``extras["live"]`` and the chat rules in ``extras["chat"]``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudexpo.services import Services

from .chat import RATE_LIMIT, RATE_WINDOW, Chat
from .live import LiveService


def install_live(services: Services, *, demo_live: bool = False, engine: Any = None) -> LiveService:
    """Create the engine (unless given), the live service and the chat; start and stop them with the app."""
    if "live" in services.extras:
        return services.extras["live"]
    settings = services.settings
    if engine is None:
        from .engine import MediaEngine

        engine = MediaEngine(settings.ice_servers, settings.ice_hosts)
    live = LiveService(
        services.db,
        services.bus,
        engine,
        services.secret_key,
        dt.timedelta(minutes=settings.green_room_minutes),
    )
    services.extras["media"] = engine
    services.extras["live"] = live
    services.extras["chat"] = Chat(services.bus, services.rate_limiter(RATE_LIMIT, RATE_WINDOW))

    async def start(svc: Services) -> None:
        await live.start()

    async def stop(svc: Services) -> None:
        await live.close()

    services.on_startup.append(start)
    services.on_shutdown.append(stop)
    if demo_live:
        from .demo import DemoLaunch

        demo = DemoLaunch(services)
        services.extras["demo_launch"] = demo

        async def start_demo(svc: Services) -> None:
            demo.start()

        async def stop_demo(svc: Services) -> None:
            await demo.stop()

        services.on_startup.append(start_demo)
        services.on_shutdown.append(stop_demo)
    return live
