"""Databases for tests: one migrated template per run, a fresh copy per test.

SQLite (the embedded default): migrating a new file takes 0.5–0.7 s, copying a
migrated one next to nothing (:func:`sqlite_template`, used by ``settings``).

PostgreSQL: one migrated template database per run, a fresh copy per test.

``CREATE DATABASE … TEMPLATE`` copies the migrated schema in a fraction of a
second, so every test gets an empty, fully migrated database of its own. That
fraction (0.5–0.8 s on a busy two-core machine, for some 300 tests) is spent
ahead: a thread copies the next test's database, and drops the last one's,
while the current test runs (:class:`DatabaseQueue`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
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
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file migrated once per run (closed: nothing left in a write-ahead log)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "cloudexpo.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    assert not path.with_name(path.name + "-wal").exists(), "the template's write-ahead log was not merged on close"
    return path


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


class DatabaseQueue:
    """Copies of the template made one test ahead and dropped after their test, in a thread of their own.

    One thread does both, in order: the copy for the next test starts as soon as
    this one's is taken, and a drop waits behind it. A copy that failed fails the
    test that takes it.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="test-databases")
        self._next: Future[str] = self._thread.submit(self._create)
        self._drops: list[Future[None]] = []

    def _create(self) -> str:
        name = f"cx_t_{secrets.token_hex(5)}"
        asyncio.run(_admin([f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"']))
        return name

    @staticmethod
    def _drop(name: str) -> None:
        asyncio.run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))

    def take(self) -> str:
        """A new, migrated, empty database's name (and the next one's copy under way)."""
        self._raise_failed_drops()
        ready, self._next = self._next, self._thread.submit(self._create)
        return ready.result()

    def give_back(self, name: str) -> None:
        self._drops.append(self._thread.submit(self._drop, name))

    def _raise_failed_drops(self) -> None:
        """A drop that failed fails the next test's setup (or the run's end), as it failed its own teardown before."""
        done = [drop for drop in self._drops if drop.done()]
        self._drops = [drop for drop in self._drops if not drop.done()]
        for drop in done:
            drop.result()

    def close(self) -> None:
        """Drop the copy nobody took; wait for every drop (the template goes after this)."""
        spare = self._next
        self._drops.append(self._thread.submit(lambda: self._drop(spare.result()) if spare.exception() is None else None))
        self._thread.shutdown(wait=True)
        self._raise_failed_drops()


@pytest.fixture(scope="session")
def postgres_databases(postgres_template: str) -> Iterator[DatabaseQueue]:
    databases = DatabaseQueue(postgres_template)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def postgres_database(postgres_databases: DatabaseQueue) -> Iterator[str]:
    """The URL of a new, migrated, empty database; dropped after the test."""
    name = postgres_databases.take()
    try:
        yield _with_database(POSTGRES_URL, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        postgres_databases.give_back(name)
