"""Replays: one recording per slot, and who watched how long.

A :class:`Replay` row exists from the moment a slot's broadcast starts
recording (``state`` "recording"), through "processing" (the playlist is
closed and playable; the download MP4 is being remuxed) to "ready" (or
"failed"). Its objects live in storage under ``replays/{slot_id}/``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow


class ReplayState(StrEnum):
    RECORDING = "recording"
    PROCESSING = "processing"  # playable; the download MP4 is being made
    READY = "ready"
    FAILED = "failed"


#: States in which the replay's playlist can be played.
PLAYABLE_STATES = frozenset({ReplayState.RECORDING.value, ReplayState.PROCESSING.value, ReplayState.READY.value})


class Replay(Base):
    __tablename__ = "replays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"), unique=True, index=True)
    state: Mapped[str] = mapped_column(String(16), default=ReplayState.RECORDING.value, index=True)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wall-clock time of the recording's first frame (the replay's 0 s).
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds, whole recording
    segments: Mapped[int] = mapped_column(Integer, default=0)
    video_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)  # what the publisher sent
    # Trim points in seconds on the recording's timeline, snapped to segment starts (keyframes).
    trim_start: Mapped[float] = mapped_column(Float, default=0.0)
    trim_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    mp4_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    mp4_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # {"zh-Hans": "replays/7/captions/zh-Hans.vtt", "en": ...}
    captions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    views: Mapped[int] = mapped_column(Integer, default=0)
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def visible_duration(self) -> float:
        end = self.trim_end if self.trim_end is not None else self.duration
        return max(0.0, end - self.trim_start)


class ReplayView(Base):
    """One visitor's viewing of one replay on one day (views count once per visitor a day)."""

    __tablename__ = "replay_views"
    __table_args__ = (UniqueConstraint("replay_id", "visitor", "day", name="uq_replay_views_visitor_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    replay_id: Mapped[int] = mapped_column(ForeignKey("replays.id", ondelete="CASCADE"), index=True)
    visitor: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (UTC)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
