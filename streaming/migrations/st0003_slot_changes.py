"""streaming: what a schedule change leaves on a slot (iCalendar sequence, where it was, why declined)

Revision ID: st0003s
Revises: st0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "st0003s"
down_revision = "st0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("previous_starts_at", cloudexpo.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("previous_ends_at", cloudexpo.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decline_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slots") as batch:
        batch.drop_column("decline_reason")
        batch.drop_column("previous_ends_at")
        batch.drop_column("previous_starts_at")
        batch.drop_column("sequence")
