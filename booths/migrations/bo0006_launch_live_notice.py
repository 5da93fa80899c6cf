"""booths: a launch reminder also tells when the launch goes live

Revision ID: bo0006
Revises: bo0005
Create Date: 2026-12-06

A launch bookmark is the visitor's "Remind me": ``notified_at`` records the
notice ten minutes before the start, ``live_notified_at`` the one when the
broadcast actually goes live. Each is claimed with a conditional UPDATE, so
with several app nodes running the reminder loop a visitor is told once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0006"
down_revision = "bo0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.add_column(sa.Column("live_notified_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("live_notified_at")
