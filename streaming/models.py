"""The broadcast schedule's tables: stages, slots, chat messages, mutes and pinned messages.

A slot names its booth by id (``booth_id``) and the exhibitor that may publish
to it (``exhibitor_id``); ``streaming`` never imports ``booths``. Times are
aware UTC. Per-language text is a mapping ``{"zh-Hans": ..., "zh-Hant": ...,
"en": ...}``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow


class StageKind(StrEnum):
    RELEASE = "release"  # the release zone: exhibitors' launches
    FORUM = "forum"  # conference rooms: ceremonies, main forum, sub-forums


class SlotState(StrEnum):
    SCHEDULED = "scheduled"
    GREEN_ROOM = "green_room"  # a publisher is connected before the slot is on air
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"
    DECLINED = "declined"  # an exhibitor's request a moderator said no to (``decline_reason`` says why)


#: States in which a slot takes no more publishers.
CLOSED_STATES = frozenset({SlotState.ENDED.value, SlotState.CANCELLED.value, SlotState.DECLINED.value})


class Stage(Base):
    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default=StageKind.RELEASE.value)
    name: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    venue: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Slot(Base):
    __tablename__ = "slots"
    __table_args__ = (Index("ix_slots_stage_time", "stage_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"), index=True)
    # A launch names a booth (and the exhibitor whose staff may publish); a forum session names its forum.
    booth_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    exhibitor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    forum: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # [{"name": "...", "affiliation": {"en": ..., ...}}]
    speakers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=SlotState.SCHEDULED.value, index=True)
    # The bearer token is derived from the secret key and this nonce; only its hash is stored.
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))
    # Exhibitor launch requests wait for a moderator's approval.
    requested_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    # A moderator pressed "on air" before the start time.
    on_air_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    publish_session: Mapped[str | None] = mapped_column(String(128), nullable=True)
    publishing_since: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    live_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    # Schedule changes: the iCalendar SEQUENCE (one more on each move, cancel or decline), where a
    # moderator last moved the slot from (its exhibitor sees "moved"), and why a request was declined.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    previous_starts_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    previous_ends_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Slow mode: the seconds a visitor waits between two chat messages (0: off); set by moderators.
    chat_slow_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Questions wait for the presenter's or a moderator's approval before the audience sees them.
    qa_moderated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_slot_created", "slot_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    author: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Milliseconds since the slot went on air (live_at); None when sent before it.
    offset_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ChatMute(Base):
    __tablename__ = "chat_mutes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None mutes the user in every slot's chat.
    slot_id: Mapped[int | None] = mapped_column(
        ForeignKey("slots.id", ondelete="CASCADE"), nullable=True
    )
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    muted_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChatPin(Base):
    """A chat message or a notice pinned above the chat and on the player, from ``pinned_at`` until ``unpinned_at``.

    Rows are kept when unpinned, so the replay shows what was pinned at each moment.
    """

    __tablename__ = "chat_pins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: a notice written to pin
    author: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    pinned_by: Mapped[int] = mapped_column(Integer)
    pinned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    unpinned_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
