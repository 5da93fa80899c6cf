"""booths: video calls from booth conversations

Revision ID: bo0009
Revises: bo0008
Create Date: 2026-12-06

One row per call: its state while it rings and runs, then the record that
exhibitor analytics count (calls per booth, answered, minutes talked).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0009"
down_revision = "bo0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booth_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), sa.ForeignKey("booths.id", ondelete="CASCADE"), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), sa.ForeignKey("exhibitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("caller_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("callee_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("path", sa.String(10), nullable=True),
        sa.Column("started_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
    )
    op.create_index("ix_booth_calls_booth_started", "booth_calls", ["booth_id", "started_at"])
    op.create_index("ix_booth_calls_conversation", "booth_calls", ["conversation_id", "state"])
    op.create_index("ix_booth_calls_caller_id", "booth_calls", ["caller_id"])
    op.create_index("ix_booth_calls_callee_id", "booth_calls", ["callee_id"])


def downgrade() -> None:
    op.drop_table("booth_calls")
