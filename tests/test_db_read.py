"""``Database.read``: a page's reads in one trip, on SQLite (worker thread, own connection) and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cloudexpo.accounts import User
from cloudexpo.services import Services


def emails(session: Session) -> list[str]:
    return list(session.scalars(select(User.email).order_by(User.id)).all())


async def test_read_sees_every_committed_write(services: Services, make_user: Any) -> None:
    first, _, _ = await make_user()
    assert await services.db.read(emails) == [first]
    # The read connection stays in its pool between reads; a write committed since is seen all the same.
    second, _, _ = await make_user()
    assert await services.db.read(emails) == [first, second]


async def test_read_returns_loaded_objects_usable_after_the_trip(services: Services, make_user: Any) -> None:
    email, _, user_id = await make_user(role="moderator")

    def user(session: Session) -> User | None:
        return session.get(User, user_id)

    found = await services.db.read(user)
    assert found is not None and found.email == email and found.role == "moderator"


async def test_reads_run_beside_each_other_and_off_the_event_loop_on_sqlite(services: Services, make_user: Any) -> None:
    await make_user()
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def where(session: Session) -> int:
        threads.add(threading.get_ident())
        return len(emails(session))

    counts = await asyncio.gather(*(services.db.read(where) for _ in range(20)))
    assert counts == [1] * 20
    if services.db.dialect == "sqlite":
        assert loop_thread not in threads  # a worker thread: the event loop goes on serving meanwhile
    else:
        assert threads == {loop_thread}  # asyncpg needs no thread: run_sync on the loop


async def test_an_error_inside_a_read_reaches_the_caller(services: Services) -> None:
    def broken(session: Session) -> None:
        session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError, match="no_such_table"):
        await services.db.read(broken)
    assert await services.db.read(emails) == []  # the pool is still good


@pytest.mark.parametrize("backend", ["services"], indirect=True)  # SQLite has no server to close a connection
async def test_a_read_on_a_connection_the_server_closed_is_repeated(services: Services, make_user: Any) -> None:
    assert services.db.dialect == "postgresql"
    email, _, _ = await make_user()
    assert await services.db.read(emails) == [email]  # the read pool now holds a connection
    async with services.db.session() as session:
        killed = (await session.execute(text(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t"
        ))).scalar_one()
    assert killed >= 1
    assert await services.db.read(emails) == [email]
