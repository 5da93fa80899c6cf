"""booths: the visitor's briefcase of documents and products to take away

Revision ID: bo0008
Revises: bo0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0008"
down_revision = "bo0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "briefcase_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_briefcase_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefcase_items")),
        sa.UniqueConstraint("user_id", "kind", "target_id", name="uq_briefcase_user_kind_target"),
    )
    with op.batch_alter_table("briefcase_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_briefcase_items_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("briefcase_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_briefcase_items_user_id"))
    op.drop_table("briefcase_items")
