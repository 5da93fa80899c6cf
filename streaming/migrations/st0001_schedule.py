"""streaming: stages, slots, chat messages and mutes

Revision ID: st0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "st0001"
down_revision = None
branch_labels = ("streaming",)
depends_on = "cx0001"


def upgrade() -> None:
    op.create_table(
        "stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("venue", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stages")),
    )
    op.create_index(op.f("ix_stages_slug"), "stages", ["slug"], unique=True)
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=True),
        sa.Column("exhibitor_id", sa.Integer(), nullable=True),
        sa.Column("forum", sa.String(length=200), nullable=True),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("speakers", sa.JSON(), nullable=False),
        sa.Column("starts_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("token_nonce", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("on_air_requested", sa.Boolean(), nullable=False),
        sa.Column("publish_session", sa.String(length=128), nullable=True),
        sa.Column("publishing_since", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("live_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("ended_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_id"], ["stages.id"], name=op.f("fk_slots_stage_id_stages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
    )
    op.create_index("ix_slots_stage_time", "slots", ["stage_id", "starts_at"], unique=False)
    op.create_index(op.f("ix_slots_stage_id"), "slots", ["stage_id"], unique=False)
    op.create_index(op.f("ix_slots_booth_id"), "slots", ["booth_id"], unique=False)
    op.create_index(op.f("ix_slots_exhibitor_id"), "slots", ["exhibitor_id"], unique=False)
    op.create_index(op.f("ix_slots_state"), "slots", ["state"], unique=False)
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["slots.id"],
            name=op.f("fk_chat_messages_slot_id_slots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    op.create_index(
        "ix_chat_messages_slot_created", "chat_messages", ["slot_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_chat_messages_user_id"), "chat_messages", ["user_id"], unique=False)
    op.create_table(
        "chat_mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("muted_by", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["slots.id"], name=op.f("fk_chat_mutes_slot_id_slots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_mutes")),
    )
    op.create_index(op.f("ix_chat_mutes_user_id"), "chat_mutes", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("chat_mutes")
    op.drop_table("chat_messages")
    op.drop_table("slots")
    op.drop_table("stages")
