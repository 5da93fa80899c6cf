"""streaming: replays (recordings of slots) and replay views

Revision ID: st0002
Revises: st0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "st0002"
down_revision = "st0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("started_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("ended_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("video_codec", sa.String(length=32), nullable=True),
        sa.Column("trim_start", sa.Float(), nullable=False),
        sa.Column("trim_end", sa.Float(), nullable=True),
        sa.Column("mp4_key", sa.String(length=300), nullable=True),
        sa.Column("mp4_size", sa.Integer(), nullable=True),
        sa.Column("captions", sa.JSON(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["slot_id"], ["slots.id"], name=op.f("fk_replays_slot_id_slots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replays")),
    )
    op.create_index(op.f("ix_replays_slot_id"), "replays", ["slot_id"], unique=True)
    op.create_index(op.f("ix_replays_state"), "replays", ["state"], unique=False)
    op.create_table(
        "replay_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replay_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["replay_id"],
            ["replays.id"],
            name=op.f("fk_replay_views_replay_id_replays"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replay_views")),
        sa.UniqueConstraint("replay_id", "visitor", "day", name="uq_replay_views_visitor_day"),
    )
    op.create_index(op.f("ix_replay_views_replay_id"), "replay_views", ["replay_id"], unique=False)


def downgrade() -> None:
    op.drop_table("replay_views")
    op.drop_table("replays")
