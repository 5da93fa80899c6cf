"""Visitor engagement's tables: bookmarks, the briefcase, business cards, profiles, meetings, leads,
notifications, mail opt-outs and booth analytics.

Times are aware UTC. Double booking is refused twice: in code (overlapping
times, :mod:`booths.engagement.meetings`) and by the database (one accepted meeting per
offered slot; one pending-or-accepted request per visitor and start time;
one slot per host and start time). Analytics keep counters per day, booth
and metric, and, for "never count the same visitor twice a day", a hash of
(visitor, day) per booth — never the visitor's id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow

# "launch" is also the visitor's "Remind me"; "booth_live" is "Notify me when this booth goes live".
BOOKMARK_KINDS = ("booth", "product", "launch", "replay", "booth_live")
BRIEFCASE_KINDS = ("document", "product")
LEAD_STATUSES = ("new", "contacted", "qualified", "closed")
MEETING_MODES = ("online", "table")


class Bookmark(Base):
    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("user_id", "kind", "target_id", name="uq_bookmarks_user_kind_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # booth | product | launch | replay | booth_live
    target_id: Mapped[int] = mapped_column(Integer)
    # A launch bookmark is the visitor's "Remind me": the notice ten minutes before went out ...
    notified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # ... and the one when the broadcast went live (each claimed once across nodes, see notify.py);
    # for a booth_live bookmark, when the booth's latest launch went live.
    live_notified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BriefcaseItem(Base):
    """A document (an asset) or a product a signed-in visitor put in their briefcase to take away."""

    __tablename__ = "briefcase_items"
    __table_args__ = (UniqueConstraint("user_id", "kind", "target_id", name="uq_briefcase_user_kind_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # document | product
    target_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Card(Base):
    """A business card left on a booth, for that booth's exhibitor only."""

    __tablename__ = "cards"
    __table_args__ = (CheckConstraint("consent", name="consent_given"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), index=True)
    exhibitor_id: Mapped[int] = mapped_column(ForeignKey("exhibitors.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16), default="booth")  # booth | chat | conversation
    slot_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name: Mapped[str] = mapped_column(String(120))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(10), default="")
    consent: Mapped[bool] = mapped_column(Boolean)
    consented_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Profile(Base):
    """What a user tells others about themselves; ``is_expert`` lists them in the expert directory."""

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    is_expert: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    institution: Mapped[str] = mapped_column(String(200), default="")
    field: Mapped[str] = mapped_column(String(80), default="", index=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    title: Mapped[str] = mapped_column(String(120), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MeetingSlot(Base):
    """A time a host (exhibitor staff or an expert) offers for a meeting."""

    __tablename__ = "meeting_slots"
    __table_args__ = (
        UniqueConstraint("host_id", "starts_at", name="uq_meeting_slots_host_start"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exhibitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("exhibitors.id", ondelete="CASCADE"), nullable=True, index=True
    )
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime] = mapped_column()
    mode: Mapped[str] = mapped_column(String(10), default="online")  # online | table
    location: Mapped[str] = mapped_column(String(300), default="")  # the link, or the table
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Meeting(Base):
    """A visitor's request for a slot, and what the host answered."""

    __tablename__ = "meetings"
    __table_args__ = (
        # The host is never booked twice for one slot.
        Index(
            "uq_meetings_slot_accepted", "slot_id", unique=True,
            sqlite_where=text("state = 'accepted'"), postgresql_where=text("state = 'accepted'"),
        ),
        # The visitor never holds two requests starting at the same time.
        Index(
            "uq_meetings_visitor_start", "visitor_id", "starts_at", unique=True,
            sqlite_where=text("state IN ('pending', 'accepted')"),
            postgresql_where=text("state IN ('pending', 'accepted')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("meeting_slots.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exhibitor_id: Mapped[int | None] = mapped_column(
        ForeignKey("exhibitors.id", ondelete="CASCADE"), nullable=True, index=True
    )
    visitor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | accepted | declined | cancelled
    uid: Mapped[str] = mapped_column(String(80))  # the iCalendar UID, the same in both invitations
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Lead(Base):
    """One contact in an exhibitor's inbox: a card (left on the booth or shared from chat) or a meeting."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exhibitor_id: Mapped[int] = mapped_column(ForeignKey("exhibitors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # card | chat | meeting | conversation
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), nullable=True, unique=True)
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    status: Mapped[str] = mapped_column(String(12), default="new")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A visitor's one-to-one conversation with a booth's staff: one per booth and visitor.

    The read markers are the last message each side has seen (every staff
    member of the booth shares the staff's). ``card_id`` is the card the
    visitor shared from it, which made it a lead.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("booth_id", "visitor_id", name="uq_conversations_booth_visitor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), index=True)
    exhibitor_id: Mapped[int] = mapped_column(ForeignKey("exhibitors.id", ondelete="CASCADE"), index=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    left_message: Mapped[bool] = mapped_column(Boolean, default=False)  # started while nobody was at the booth
    visitor_read_id: Mapped[int] = mapped_column(Integer, default=0)
    staff_read_id: Mapped[int] = mapped_column(Integer, default=0)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id", ondelete="SET NULL"), nullable=True)
    reported_at: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    report_reason: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ConversationMessage(Base):
    """One message; a moderator may remove it: it stays stored (their record), and the two sides see
    that it was removed instead of its text."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    side: Mapped[str] = mapped_column(String(8))  # visitor | staff
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class ConversationBlock(Base):
    """A user a moderator stopped from starting conversations and sending messages in them."""

    __tablename__ = "conversation_blocks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app notice; the text is made from ``kind`` and ``params`` in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    url: Mapped[str] = mapped_column(String(300), default="")
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailOptOut(Base):
    __tablename__ = "mail_optouts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BoothDaily(Base):
    """A counter per day (in the exhibition's time zone), booth and metric."""

    __tablename__ = "analytics_daily"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), primary_key=True, index=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class BoothSeen(Base):
    """Who was counted already on a day: a keyed hash of (visitor, day), never the visitor's id."""

    __tablename__ = "analytics_seen"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(12), primary_key=True)  # visitors | qr_visitors
    visitor: Mapped[str] = mapped_column(String(32), primary_key=True)
