"""streaming: reactions counted per interval, pinned chat messages, slow mode

Revision ID: st0004r
Revises: st0003s
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "st0004r"
down_revision = "st0003s"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots") as batch:
        batch.add_column(sa.Column("chat_slow_seconds", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "chat_pins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pinned_by", sa.Integer(), nullable=False),
        sa.Column("pinned_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("unpinned_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], name=op.f("fk_chat_pins_slot_id_slots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_pins")),
    )
    op.create_index(op.f("ix_chat_pins_slot_id"), "chat_pins", ["slot_id"], unique=False)
    op.create_table(
        "reaction_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=32), nullable=False),
        sa.Column("started_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["slot_id"], ["slots.id"], name=op.f("fk_reaction_counts_slot_id_slots"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reaction_counts")),
    )
    op.create_index("ix_reaction_counts_slot_started", "reaction_counts", ["slot_id", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reaction_counts_slot_started", table_name="reaction_counts")
    op.drop_table("reaction_counts")
    op.drop_index(op.f("ix_chat_pins_slot_id"), table_name="chat_pins")
    op.drop_table("chat_pins")
    with op.batch_alter_table("slots") as batch:
        batch.drop_column("chat_slow_seconds")
