"""The composition root: the one place that joins cloudexpo, booths, streaming and web.

What one process runs, in the order it starts (it closes in reverse):

1. the kernel's :class:`~cloudexpo.services.Services`: database (migrated at
   start on SQLite), object store, event bus;
2. each area's parts (built by its :class:`~cloudexpo.areas.Area`, see :func:`areas`):
   streaming (media engine, live service, chat, replay files, recorder), then
   booths (analytics counter, notifier and reminders, media worker);
3. the web's booth page cache (listens for writes while running);
4. under ``cloudexpo demo``, the simulated launch (it waits until the server answers).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from cloudexpo.areas import Area, Part, close_all, start_all
from cloudexpo.db import Database
from cloudexpo.services import Services
from cloudexpo.settings import Settings

if TYPE_CHECKING:
    from booths.runtime import BoothsRuntime
    from streaming.demo import DemoLaunch
    from streaming.runtime import StreamingRuntime
    from web.booth_pages import BoothPageCache

DEMO_PASSWORD = "cloudexpo-demo"
KERNEL_MODELS = ("cloudexpo.accounts", "cloudexpo.sessions")


def areas() -> tuple[Area[Part], ...]:
    """The domain packages: their models, migration branches and parts (started as :meth:`Runtime.parts` says)."""
    from booths.area import AREA as BOOTHS
    from streaming.area import AREA as STREAMING

    return (STREAMING, BOOTHS)


def import_models() -> None:
    """Import every package's models so that Base.metadata knows all tables."""
    for name in (*KERNEL_MODELS, *(model for area in areas() for model in area.models)):
        importlib.import_module(name)


def migration_folders() -> list[Path]:
    """Each area's Alembic branch (the kernel's own is always there)."""
    return [area.migrations for area in areas()]


def open_services(settings: Settings) -> Services:
    """The kernel's resources for ``settings`` (not started), knowing every area's tables and migrations."""
    import_models()
    return Services.from_settings(settings, migrations=migration_folders())


def open_database(settings: Settings) -> Database:
    """The database alone (commands that need nothing else), knowing every area's tables and migrations."""
    import_models()
    return Database(settings.resolved_database_url, migration_folders())


@dataclass
class Runtime:
    """Everything one Cloud Expo process runs, each part typed and owned here.

    :meth:`start` starts the parts in the order of :meth:`parts`; :meth:`close`
    closes them in reverse (a part that fails to close is logged, the others
    still close).
    """

    services: Services
    streaming: StreamingRuntime
    booths: BoothsRuntime
    booth_pages: BoothPageCache
    demo: DemoLaunch | None = None

    def parts(self) -> list[Part]:
        return [self.services, self.streaming, self.booths, self.booth_pages, *([self.demo] if self.demo else [])]

    async def start(self) -> None:
        await start_all(self.parts())

    async def close(self) -> None:
        await close_all(self.parts())


def build_runtime(settings: Settings, *, services: Services | None = None, demo_live: bool = False) -> Runtime:
    """The parts of one process, built but not started (``demo_live``: the demo's simulated launch too)."""
    from booths.area import AREA as BOOTHS
    from streaming.area import AREA as STREAMING
    from streaming.demo import DemoLaunch
    from web.booth_pages import BoothPageCache

    import_models()  # every table is known before the first query, also with the ``services`` given
    services = services or open_services(settings)
    return Runtime(
        services=services,
        streaming=STREAMING.build(services),
        booths=BOOTHS.build(services),
        booth_pages=BoothPageCache(),
        demo=DemoLaunch(services) if demo_live else None,
    )


def create_app(settings: Settings, *, services: Services | None = None, demo_live: bool = False) -> Starlette:
    """The ASGI application for ``settings``; its lifespan starts the runtime and closes it."""
    from web.app import build_app

    return build_app(build_runtime(settings, services=services, demo_live=demo_live))


@dataclass
class DemoLogins:
    password: str
    accounts: list[tuple[str, str]] = field(default_factory=list)


async def seed_demo(settings: Settings) -> DemoLogins:
    """Fill an empty data folder with the seed exhibition; safe to run again."""
    from sqlalchemy import select

    from booths.seed.exhibition import seed_exhibition
    from cloudexpo import accounts
    from streaming.seed import seed_programme
    from streaming.seed_replays import seed_replays

    services = open_services(settings)
    logins = DemoLogins(DEMO_PASSWORD)
    try:
        await services.db.check()
        await services.db.migrate()
        await services.store.check()
        async with services.db.session() as db:
            for email, name, role in (
                ("moderator@demo.cloudexpo", "展会主持 Moderator", accounts.Role.MODERATOR),
                ("admin@demo.cloudexpo", "Admin", accounts.Role.ADMIN),
                ("visitor@demo.cloudexpo", "访客 Visitor", accounts.Role.VISITOR),
            ):
                if await db.scalar(select(accounts.User.id).where(accounts.User.email == email)) is None:
                    await accounts.create_user(db, email, DEMO_PASSWORD, display_name=name, role=role)
                logins.accounts.append((role.value, email))
            await db.commit()
        logins.accounts.extend(await seed_exhibition(services, DEMO_PASSWORD))
        async with services.db.session() as db:
            await seed_programme(db, services.secret_key)
            await db.commit()
        await seed_replays(services, Path(settings.data_dir) / "spool")
    finally:
        await services.close()
    return logins
