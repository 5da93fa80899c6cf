"""Alembic environment: migrations run on the connection Cloud Expo hands in.

Developers make a new revision with
``alembic -c cloudexpo/migrations/alembic.ini revision --autogenerate --head <branch>@head -m "..."``
where ``<branch>`` is the package that owns the tables (cloudexpo, booths, streaming).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cloudexpo.app import import_models
from cloudexpo.db import Base

import_models()
target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import create_engine

        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("set sqlalchemy.url (a sync URL) to run alembic by hand")
        with create_engine(url).connect() as conn:
            _configure_and_run(conn)
        return
    _configure_and_run(connection)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
