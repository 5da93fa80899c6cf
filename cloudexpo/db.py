"""The database: one async engine per process, sessions, and migrations.

SQLite (WAL, foreign keys on) in the data folder is the default; PostgreSQL
through asyncpg when ``CLOUDEXPO_DATABASE_URL`` names one. Every package's
models derive from :class:`Base`; Alembic keeps the schema (one migration
branch per package, see ``cloudexpo/migrations``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).parent / "migrations"
READ_THREADS = 4  # worker threads for :meth:`Database.read` on SQLite
SQLITE_MMAP_BYTES = 1 << 30  # address space, not memory: pages are the operating system's file cache

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON, dict[str, str]: JSON}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DatabaseError(RuntimeError):
    """The database does not answer or its schema is not usable."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # Reads are mostly random lookups (a booth page, the documents a search matches): memory-mapped I/O
    # shares the operating system's page cache between connections and processes instead of a read()
    # per page into a private 2 MB cache; a search over 10,000 booths gets ~3 times faster.
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.close()


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_read_engine(url: str) -> Engine | AsyncEngine | None:
    """The engine of :meth:`Database.read`: on a SQLite file a plain sqlite3 engine (used from worker threads);
    elsewhere an async engine whose connections run without a transaction (each statement sees what is
    committed) and are not pinged before each use (a read found on a dead connection is simply repeated).
    None for an in-memory SQLite database (one connection only: reads go through the main engine)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_size=5, max_overflow=5, isolation_level="AUTOCOMMIT")
    if parsed.database in (None, "", ":memory:") or "memory" in parsed.query.values():
        return None
    engine = create_engine(parsed.set(drivername="sqlite"), pool_size=READ_THREADS, max_overflow=0,
                           connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, migrations: Sequence[Path] = ()) -> None:
        """:param migrations: the areas' Alembic branch folders (``cloudexpo.app.migration_folders()``);
        the kernel's own branch is always upgraded with them."""
        self.url = url
        self.migrations = [MIGRATIONS / "versions", *migrations]
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = make_read_engine(url)
        self._read_threads: ThreadPoolExecutor | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn``, which only reads, over a synchronous ORM session in one trip; returns what it returns.

        For pages that need several statements. With aiosqlite every awaited
        statement hops between the event loop and the connection's thread
        about four times (and so does the transaction around them), which
        costs more than the statements themselves: on SQLite ``fn`` runs
        whole in a worker thread on a sqlite3 connection of its own (WAL lets
        it read beside the writer, and it sees every committed write). On
        PostgreSQL it runs in :meth:`AsyncSession.run_sync` on a connection
        without BEGIN/ROLLBACK or a ping around it: one round trip per
        statement. Objects it returns are detached: load what the caller
        needs inside ``fn``.
        """
        engine = self._read_engine
        if engine is None:
            async with self.sessions() as session:
                return await session.run_sync(fn)
        if isinstance(engine, AsyncEngine):
            try:
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    return await session.run_sync(fn)
            except DBAPIError as exc:  # after a disconnect the pool renews its connections: one more try
                if not exc.connection_invalidated:
                    raise
            async with AsyncSession(engine, expire_on_commit=False) as session:
                return await session.run_sync(fn)
        if self._read_threads is None:
            self._read_threads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="db-read")
        sync_engine = engine

        def run() -> T:
            with Session(sync_engine, expire_on_commit=False) as session:
                return fn(session)

        return await asyncio.get_running_loop().run_in_executor(self._read_threads, run)

    async def check(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "does not answer"
            raise DatabaseError(f"database {self.engine.url.render_as_string(hide_password=True)} does not answer: {exc}") from exc

    async def migrate(self) -> list[str]:
        """Bring the schema to the newest revision of every branch; returns the heads."""
        try:
            async with self.engine.begin() as conn:
                return await conn.run_sync(_upgrade, self.migrations)
        except DatabaseError:
            raise
        except OSError as exc:
            raise DatabaseError(f"cannot reach the database to migrate it: {exc}") from exc

    async def current_revisions(self) -> set[str]:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._read_threads is not None:
            self._read_threads.shutdown(wait=True)
            self._read_threads = None
        if isinstance(self._read_engine, AsyncEngine):
            await self._read_engine.dispose()
        elif self._read_engine is not None:
            self._read_engine.dispose()


def alembic_config(version_locations: Sequence[Path]) -> Any:
    """Alembic's configuration: the kernel's environment, each package's branch in ``version_locations``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in version_locations))
    cfg.set_main_option("path_separator", "space")
    return cfg


def _upgrade(conn: Connection, version_locations: Sequence[Path]) -> list[str]:
    from alembic import command

    cfg = alembic_config(version_locations)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "heads")
    return sorted(_current(conn))


def _current(conn: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())
