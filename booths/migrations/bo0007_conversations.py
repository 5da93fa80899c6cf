"""booths: staff at the booth talk one-to-one with visitors; booths say their staffed hours

Revision ID: bo0007
Revises: bo0006
Create Date: 2026-12-06

``conversations`` (one per booth and visitor, with each side's read marker,
the card shared from it and a moderator's report) and their
``conversation_messages``; ``conversation_blocks`` lists users a moderator
stopped from talking. ``booths.hours`` is free text per language. Leads and
cards name their source ``conversation``, longer than the old 10 characters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0007"
down_revision = "bo0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("booths") as batch:
        batch.add_column(sa.Column("hours", sa.JSON(), nullable=False, server_default="{}"))
    if op.get_bind().dialect.name != "sqlite":  # SQLite does not enforce lengths
        op.alter_column("leads", "kind", type_=sa.String(length=16), existing_nullable=False)
        op.alter_column("cards", "source", type_=sa.String(length=16), existing_nullable=False)
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("left_message", sa.Boolean(), nullable=False),
        sa.Column("visitor_read_id", sa.Integer(), nullable=False),
        sa.Column("staff_read_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("reported_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("report_reason", sa.String(length=500), nullable=False),
        sa.Column("started_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booth_id"], ["booths.id"], name=op.f("fk_conversations_booth_id_booths"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["exhibitor_id"], ["exhibitors.id"],
                                name=op.f("fk_conversations_exhibitor_id_exhibitors"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["visitor_id"], ["users.id"], name=op.f("fk_conversations_visitor_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_conversations_card_id_cards"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reported_by"], ["users.id"], name=op.f("fk_conversations_reported_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("booth_id", "visitor_id", name="uq_conversations_booth_visitor"),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.create_index(batch.f("ix_conversations_booth_id"), ["booth_id"], unique=False)
        batch.create_index(batch.f("ix_conversations_exhibitor_id"), ["exhibitor_id"], unique=False)
        batch.create_index(batch.f("ix_conversations_visitor_id"), ["visitor_id"], unique=False)
        batch.create_index(batch.f("ix_conversations_reported_at"), ["reported_at"], unique=False)
        batch.create_index(batch.f("ix_conversations_last_message_at"), ["last_message_at"], unique=False)
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_conversation_messages_conversation_id_conversations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"], name=op.f("fk_conversation_messages_sender_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    with op.batch_alter_table("conversation_messages") as batch:
        batch.create_index("ix_conversation_messages_conversation_id_id", ["conversation_id", "id"], unique=False)
    op.create_table(
        "conversation_blocks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("blocked_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_conversation_blocks_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blocked_by"], ["users.id"], name=op.f("fk_conversation_blocks_blocked_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversation_blocks")),
    )


def downgrade() -> None:
    op.drop_table("conversation_blocks")
    op.drop_table("conversation_messages")
    op.drop_table("conversations")
    with op.batch_alter_table("booths") as batch:
        batch.drop_column("hours")
