"""booths: visitor engagement — bookmarks, cards, profiles, meetings, leads, notifications, analytics

Revision ID: bo0003
Revises: bo0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0003"
down_revision = "bo0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("notified_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookmarks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint("user_id", "kind", "target_id", name="uq_bookmarks_user_kind_target"),
    )
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bookmarks_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mail_optouts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mail_optouts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_mail_optouts")),
    )
    op.create_table(
        "meeting_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_meeting_slots_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["exhibitor_id"],
            ["exhibitors.id"],
            name=op.f("fk_meeting_slots_exhibitor_id_exhibitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["users.id"],
            name=op.f("fk_meeting_slots_host_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_slots")),
        sa.UniqueConstraint("host_id", "starts_at", name="uq_meeting_slots_host_start"),
    )
    with op.batch_alter_table("meeting_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_slots_exhibitor_id"), ["exhibitor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meeting_slots_host_id"), ["host_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_meeting_slots_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("url", sa.String(length=300), nullable=False),
        sa.Column("read_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_read", ["user_id", "read_at"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_expert", sa.Boolean(), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_profiles_field"), ["field"], unique=False)
        batch_op.create_index(batch_op.f("ix_profiles_is_expert"), ["is_expert"], unique=False)

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=True),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("uid", sa.String(length=80), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["exhibitor_id"],
            ["exhibitors.id"],
            name=op.f("fk_meetings_exhibitor_id_exhibitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["users.id"], name=op.f("fk_meetings_host_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["meeting_slots.id"],
            name=op.f("fk_meetings_slot_id_meeting_slots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["users.id"],
            name=op.f("fk_meetings_visitor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_exhibitor_id"), ["exhibitor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_meetings_host_id"), ["host_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_meetings_slot_id"), ["slot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_meetings_visitor_id"), ["visitor_id"], unique=False)
        batch_op.create_index(
            "uq_meetings_slot_accepted",
            ["slot_id"],
            unique=True,
            sqlite_where=sa.text("state = 'accepted'"),
            postgresql_where=sa.text("state = 'accepted'"),
        )
        batch_op.create_index(
            "uq_meetings_visitor_start",
            ["visitor_id", "starts_at"],
            unique=True,
            sqlite_where=sa.text("state IN ('pending', 'accepted')"),
            postgresql_where=sa.text("state IN ('pending', 'accepted')"),
        )

    op.create_table(
        "analytics_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booth_id"],
            ["booths.id"],
            name=op.f("fk_analytics_daily_booth_id_booths"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", "booth_id", "metric", name=op.f("pk_analytics_daily")),
    )
    with op.batch_alter_table("analytics_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_daily_booth_id"), ["booth_id"], unique=False)

    op.create_table(
        "analytics_seen",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=12), nullable=False),
        sa.Column("visitor", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["booth_id"],
            ["booths.id"],
            name=op.f("fk_analytics_seen_booth_id_booths"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "day", "booth_id", "metric", "visitor", name=op.f("pk_analytics_seen")
        ),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consented_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("consent", name=op.f("ck_cards_consent_given")),
        sa.ForeignKeyConstraint(
            ["booth_id"], ["booths.id"], name=op.f("fk_cards_booth_id_booths"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exhibitor_id"],
            ["exhibitors.id"],
            name=op.f("fk_cards_exhibitor_id_exhibitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cards_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_booth_id"), ["booth_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cards_exhibitor_id"), ["exhibitor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cards_user_id"), ["user_id"], unique=False)

    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_leads_card_id_cards"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exhibitor_id"],
            ["exhibitors.id"],
            name=op.f("fk_leads_exhibitor_id_exhibitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_leads_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("card_id", name=op.f("uq_leads_card_id")),
        sa.UniqueConstraint("meeting_id", name=op.f("uq_leads_meeting_id")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads_exhibitor_id"), ["exhibitor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_exhibitor_id"))

    op.drop_table("leads")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_user_id"))
        batch_op.drop_index(batch_op.f("ix_cards_exhibitor_id"))
        batch_op.drop_index(batch_op.f("ix_cards_booth_id"))

    op.drop_table("cards")
    op.drop_table("analytics_seen")
    with op.batch_alter_table("analytics_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_daily_booth_id"))

    op.drop_table("analytics_daily")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_meetings_visitor_start",
            sqlite_where=sa.text("state IN ('pending', 'accepted')"),
            postgresql_where=sa.text("state IN ('pending', 'accepted')"),
        )
        batch_op.drop_index(
            "uq_meetings_slot_accepted",
            sqlite_where=sa.text("state = 'accepted'"),
            postgresql_where=sa.text("state = 'accepted'"),
        )
        batch_op.drop_index(batch_op.f("ix_meetings_visitor_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_slot_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_host_id"))
        batch_op.drop_index(batch_op.f("ix_meetings_exhibitor_id"))

    op.drop_table("meetings")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profiles_is_expert"))
        batch_op.drop_index(batch_op.f("ix_profiles_field"))

    op.drop_table("profiles")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_read")

    op.drop_table("notifications")
    with op.batch_alter_table("meeting_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_slots_starts_at"))
        batch_op.drop_index(batch_op.f("ix_meeting_slots_host_id"))
        batch_op.drop_index(batch_op.f("ix_meeting_slots_exhibitor_id"))

    op.drop_table("meeting_slots")
    op.drop_table("mail_optouts")
    with op.batch_alter_table("bookmarks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookmarks_user_id"))

    op.drop_table("bookmarks")
