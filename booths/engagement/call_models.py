"""The call records: one row per video call started from a booth conversation.

A row is both the call's live state (ringing → active → ended, or declined,
missed, cancelled) and what exhibitor analytics count: calls per booth, how
many were answered and how long they lasted. Times are aware UTC.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow

CALL_STATES = ("ringing", "active", "ended", "declined", "missed", "cancelled")
OPEN_STATES = ("ringing", "active")
#: How the media went: between the two browsers, or through the server's forwarder.
CALL_PATHS = ("direct", "forwarder")


class Call(Base):
    __tablename__ = "booth_calls"
    __table_args__ = (
        Index("ix_booth_calls_booth_started", "booth_id", "started_at"),
        Index("ix_booth_calls_conversation", "conversation_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(Integer)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"))
    exhibitor_id: Mapped[int] = mapped_column(ForeignKey("exhibitors.id", ondelete="CASCADE"))
    caller_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # A visitor's call rings every staff member of the booth: the callee is whoever answers (None until then).
    callee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(10), default="ringing")
    path: Mapped[str | None] = mapped_column(String(10), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ended_by: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def party(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in (self.caller_id, self.callee_id)

    def other(self, user_id: int) -> int | None:
        return self.callee_id if user_id == self.caller_id else self.caller_id

    @property
    def seconds(self) -> int:
        """How long the two talked (0 for a call never answered)."""
        if self.answered_at is None:
            return 0
        end = self.ended_at or utcnow()
        return max(0, int((end - self.answered_at).total_seconds()))
