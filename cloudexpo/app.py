"""The composition root: the one place that joins cloudexpo, booths, streaming and web."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette

from cloudexpo.services import Services
from cloudexpo.settings import Settings

DEMO_PASSWORD = "cloudexpo-demo"


def import_models() -> None:
    """Import every package's models so that Base.metadata knows all tables."""
    import cloudexpo.accounts  # noqa: F401
    import streaming.models
    import streaming.replay_models  # noqa: F401


def create_app(settings: Settings, *, services: Services | None = None, demo_live: bool = False) -> Starlette:
    """The ASGI application for ``settings``; resources open in its lifespan.

    ``demo_live`` starts the demo's simulated launch with the server.
    """
    from booths.engagement import analytics, notify
    from booths.media.worker import start_media_worker
    from streaming.recorder import install_recorder
    from streaming.runtime import install_live
    from web.app import build_app

    import_models()
    services = services or Services.from_settings(settings)
    install_live(services, demo_live=demo_live)  # the media engine: extras["media"], closed on shutdown
    install_recorder(services)  # extras["recorder"]: records every broadcast; completes the spool at start-up
    services.on_startup.append(start_media_worker)  # media processing; resumes unfinished work
    analytics.install(services)  # extras["analytics"]: buffered counting, flushed every few seconds
    notify.install(services)  # extras["notifier"]: in-app and e-mail notifications, reminders
    return build_app(services)


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

    import_models()
    services = Services.from_settings(settings)
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
    finally:
        await services.close()
    return logins
