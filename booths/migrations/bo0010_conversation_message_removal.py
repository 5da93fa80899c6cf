"""booths: a moderator removes a message from a booth conversation

Revision ID: bo0010
Revises: bo0009
Create Date: 2026-12-06

``conversation_messages.removed_at`` and ``removed_by``: the message stays
stored for the moderators' record, and both sides see that a moderator
removed it instead of its text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0010"
down_revision = "bo0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_messages") as batch:
        batch.add_column(sa.Column("removed_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("removed_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_conversation_messages_removed_by_users"), "users", ["removed_by"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("conversation_messages") as batch:
        batch.drop_constraint(batch.f("fk_conversation_messages_removed_by_users"), type_="foreignkey")
        batch.drop_column("removed_by")
        batch.drop_column("removed_at")
