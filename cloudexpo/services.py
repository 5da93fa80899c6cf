"""The kernel's resources one Cloud Expo process owns: database, object store, bus.

Built by the composition root (:mod:`cloudexpo.app`), started first and closed
last by its ``Runtime`` (the areas' parts start after and close before them),
handed to domain code as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from cloudexpo.bus import EventBus, make_bus
from cloudexpo.db import Database
from cloudexpo.ratelimit import RateLimiter, SharedRateLimiter, make_limiter
from cloudexpo.settings import Settings
from cloudexpo.storage import ObjectStore, open_store


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ObjectStore
    bus: EventBus
    secret_key: str
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrations: Sequence[Path] = ()) -> Services:
        """:param migrations: the areas' Alembic branches (the composition root's ``open_services`` passes them)."""
        secret = settings.resolved_secret_key()
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url, migrations),
            store=open_store(settings.resolved_storage_url, secret, settings.resolved_public_url),
            bus=make_bus(settings.redis_url, secret),
            secret_key=secret,
        )

    def rate_limiter(self, limit: int, window: float) -> RateLimiter | SharedRateLimiter:
        """At most ``limit`` hits per ``window`` seconds per key, counted across every node when there are several."""
        return make_limiter(self.bus, self.secret_key, limit, window)

    async def start(self) -> None:
        if self.settings.is_sqlite:
            await self.db.migrate()
        await self.bus.start()

    async def close(self) -> None:
        await self.bus.close()
        await self.store.close()
        await self.db.close()
