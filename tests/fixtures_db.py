"""PostgreSQL for tests: one migrated template database per run, a fresh copy per test.

``CREATE DATABASE … TEMPLATE`` copies the migrated schema in a fraction of a
second, so every test gets an empty, fully migrated database of its own.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_URL = os.environ.get("CLOUDEXPO_TEST_POSTGRES_URL", "")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(sql: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    from cloudexpo.app import import_models, migration_folders
    from cloudexpo.db import Database
    from cloudexpo.settings import _database_url

    import_models()
    db = Database(_database_url("database_url", url) or url, migration_folders())
    try:
        await db.migrate()
    finally:
        await db.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    from tests.conftest import require_service

    require_service(POSTGRES_URL, "CLOUDEXPO_TEST_POSTGRES_URL")
    name = f"cx_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin([f'CREATE DATABASE "{name}"']))
    try:
        asyncio.run(_migrate(_with_database(POSTGRES_URL, name)))
        yield name
    finally:
        asyncio.run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))


@pytest.fixture
def postgres_database(postgres_template: str) -> Iterator[str]:
    """The URL of a new, migrated, empty database; dropped after the test."""
    name = f"cx_t_{secrets.token_hex(5)}"
    asyncio.run(_admin([f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"']))
    try:
        yield _with_database(POSTGRES_URL, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))
